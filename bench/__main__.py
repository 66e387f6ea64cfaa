"""`python -m bench`: ingest and depth figures of logriver against raw Elasticsearch in one run."""

import sys

from bench.run import main

sys.exit(main())
