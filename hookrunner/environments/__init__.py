"""Hook environments (DESIGN §13): a venv per hook directory's ``requirements.txt``.

Built before a commit is published, cached by (requirements, interpreter), shared by
every commit with the same key, and used by every hook of that directory.
"""

from hookrunner.environments.errors import EnvironmentBuildError
from hookrunner.environments.store import EnvironmentStore
from hookrunner.environments.user_cache import user_store

__all__ = [
    "EnvironmentBuildError",
    "EnvironmentStore",
    "user_store",
]
