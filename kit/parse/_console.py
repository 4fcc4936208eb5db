"""What a console paste looks like around a command's output, shared by the parsers of pasted command text."""

from __future__ import annotations

import re

#: A Windows console prompt at the start of a line: PowerShell's ``PS C:\Users\x>`` or cmd.exe's ``C:\Users\x>``
#: (any drive letter, either case, optionally indented as pasted). Such a line is never data and never a header.
WINDOWS_PROMPT = re.compile(r"^\s*(?:PS\b[^>]*>|[A-Za-z]:\\[^>]*>)", re.IGNORECASE)
