from shoebox_compute.models import Base
from shoebox_lib.db.migrations import run_env

run_env(Base.metadata)
