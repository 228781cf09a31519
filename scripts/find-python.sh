#!/usr/bin/env sh
# Print the path of a working Python 3.13 interpreter, or explain and fail.
for candidate in python3.13 "$HOME"/.pyenv/versions/3.13*/bin/python3.13 /usr/local/bin/python3.13 /usr/bin/python3.13; do
  if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 13)' >/dev/null 2>&1; then
    command -v "$candidate"
    exit 0
  fi
done
echo "Palm Hospital needs Python 3.13: none was found on PATH (python3.13) or under ~/.pyenv/versions/3.13*." >&2
echo "Install it (e.g. 'pyenv install 3.13') and run the command again." >&2
exit 1
