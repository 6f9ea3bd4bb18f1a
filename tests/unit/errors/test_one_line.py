"""A quoted reason is one line, cut between words."""
from dvml_tf.errors import first_line, one_line


def test_a_long_line_is_cut_between_words_and_marked():
    text = "Unknown image file format. One of JPEG, PNG, GIF, BMP required.\n\t [[{{node X}}]]"
    assert one_line(text, 40) == "Unknown image file format. One of..."
    assert one_line(text, 200) == "Unknown image file format. One of JPEG, PNG, GIF, BMP required."


def test_an_empty_message_is_named_by_its_type():
    assert first_line(ValueError("\n  \n")) == "ValueError"


def test_tensorflows_op_decoration_is_left_out():
    text = ("{{function_node __wrapped__CreateSummaryFileWriter_device_/job:localhost/replica:0"
            "/task:0/device:CPU:0}} Not a directory [Op:CreateSummaryFileWriter] name:")
    assert one_line(text) == "Not a directory"
