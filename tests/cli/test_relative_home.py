"""A relative --home (the demo's `.opsbook-demo`) works like an absolute one."""

from __future__ import annotations


def test_deploy_with_a_relative_home_lists_the_objects_under_it(opsbook, clean_env):
    assert opsbook("--home", "rel-home", "init").code == 0
    result = opsbook("--home", "rel-home", "deploy")
    assert result.code == 0, result.err
    assert "objects/sql/check_records.sql" in result.out
    assert (clean_env / "rel-home" / "objects" / "sql" / "check_records.sql").is_file()
    again = opsbook("--home", "rel-home", "deploy")
    assert again.code == 0 and "unchanged  object" in again.out.replace(
        "unchanged object", "unchanged  object"
    )
