from shoebox_lib.db.migrations import run_env
from shoebox_uploads.models import Base

run_env(Base.metadata)
