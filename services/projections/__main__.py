"""`python -m services.projections`."""

from services.projections.service import SPEC
from shared.platform.runtime import run

if __name__ == "__main__":
    run(SPEC)
