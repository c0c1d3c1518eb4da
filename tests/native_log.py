"""How TensorFlow's C++ runtime lines look, for tests that check where they went.

absl's format: a severity letter, then the date and time, e.g. `I1127 10:00:00.000000 ...`
(`I0000 00:00:1795784428.571717 ...` before absl's logging is initialised).
"""

import re

NATIVE_LINE = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d\d", re.MULTILINE)
