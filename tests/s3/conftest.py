"""The S3/HTTP fixtures (see ``tests.helpers.fixtures``) for this folder."""

from tests.helpers.fixtures import *  # noqa: F401,F403
