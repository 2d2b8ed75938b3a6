"""Bad input raises a SwissaiError with the CLI's exit code; progress arrives as events."""

import swissai
from swissai.services.events import Collect

try:
    swissai.plan("gpt-oss-120b", gpus="8xh100-80gb", tp=3)  # 3 does not divide 64 heads
except swissai.SwissaiError as error:
    print(error.exit_code, error.message, error.hint, sep="\n")
    assert error.exit_code == 2

events = Collect()
swissai.plan("gpt-oss-20b", on_event=events)  # no GPU here: the embedded default, said once
print(events.messages())
