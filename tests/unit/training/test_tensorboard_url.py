"""The TensorBoard address a run prints: smoothing off and the evaluation curves pinned,
in the query parameters TensorBoard's time series reads."""
import json
import urllib.parse

from dvml_tf import tensorboard_tags


def test_the_address_turns_smoothing_off_and_pins_the_evaluation_curves():
    address = urllib.parse.urlsplit(tensorboard_tags.url(6007))
    assert (address.netloc, address.fragment) == ("localhost:6007", "timeseries")
    query = urllib.parse.parse_qs(address.query)
    assert query["smoothing"] == ["0"]
    assert json.loads(query["pinnedCards"][0]) == [
        {"plugin": "scalars", "tag": "3_eval/recall@1"},
        {"plugin": "scalars", "tag": "3_eval/map@r"}]
    for tag in tensorboard_tags.PINNED:
        assert tensorboard_tags.description(tag)
