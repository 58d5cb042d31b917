"""``python -m ibmq_gateway.server.cli``: the ``ibmq-gateway`` command."""

import sys

from ibmq_gateway.server.cli import main

sys.exit(main())
