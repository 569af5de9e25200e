"""The S3/HTTP fixtures (see ``helpers.fixtures``) for this folder."""

from helpers.fixtures import *  # noqa: F401,F403
