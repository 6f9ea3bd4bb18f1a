"""The public names as type checkers see them (the imports under TYPE_CHECKING) equal
the ones dvml_tf resolves at run time, and each public name that differs from its
definition's is a documented alias; UserError is a ValueError; ruff checks the Python
versions setup.py supports."""
import ast
import os
import re
import tomllib

import pytest

import dvml_tf
from dvml_tf.errors import UserError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__))))


def _type_checking_imports():
    tree = ast.parse(open(dvml_tf.__file__).read())
    block = next(node for node in tree.body if isinstance(node, ast.If)
                 and getattr(node.test, "id", None) == "TYPE_CHECKING")
    return {alias.asname or alias.name: f"{node.module}:{alias.name}"
            for node in block.body for alias in node.names}


def test_type_checkers_see_every_public_name_where_it_is_defined():
    assert _type_checking_imports() == dvml_tf._PUBLIC
    assert dvml_tf.__all__ == sorted(dvml_tf._PUBLIC)


@pytest.mark.parametrize("name", sorted(dvml_tf._PUBLIC))
def test_a_public_name_is_its_definition_s_or_a_documented_alias(name):
    module, attribute = dvml_tf._PUBLIC[name].split(":")
    if attribute != name:
        assert re.search(rf"{name} of\s+{re.escape(module)}\.{attribute}\b",
                         dvml_tf.__doc__), f"{name}: an alias the docstring does not name"


def test_a_user_error_is_a_value_error():
    with pytest.raises(ValueError, match="unknown"):
        dvml_tf.MetricLoss("no_such_loss")
    assert issubclass(UserError, ValueError)


def test_ruff_checks_the_oldest_python_setup_py_supports():
    setup = open(os.path.join(ROOT, "setup.py")).read()
    oldest = re.search(r'python_requires=">=3\.(\d+)', setup).group(1)
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        target = tomllib.load(f)["tool"]["ruff"]["target-version"]
    assert target == f"py3{oldest}"
