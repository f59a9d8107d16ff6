from pathlib import Path

from shoebox_lib.schemas import render, schemas

COMMITTED = Path(__file__).resolve().parents[2] / "proto-schemas"


def test_committed_event_schemas_match_the_models() -> None:
    expected = schemas()
    on_disk = {p.name for p in COMMITTED.glob("*.json")}
    assert on_disk == set(expected), "run `make schemas` and commit proto-schemas/"
    for name, schema in expected.items():
        assert (COMMITTED / name).read_text() == render(schema), f"{name} is stale: run `make schemas`"
