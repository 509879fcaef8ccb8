"""``python -m opendmp.web.i18n check [LOCALE_DIR]``: the catalogue checker (``check.py``)."""

import sys

from opendmp.web.i18n.check import main

raise SystemExit(main(sys.argv[1:]))
