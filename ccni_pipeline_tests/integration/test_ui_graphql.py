"""Lineage, checks and metadata of the edition 2022 run, as the Dagster UI shows them.

Starts `dagster-webserver` on 127.0.0.1 with the lake of the `edition_2022` run and
reads the asset graph, the check results and the latest materialisations through
the webserver's GraphQL API, the same API the UI pages query.
"""

import logging

import pytest

from ccni_pipeline.sources.registry import READERS
from ccni_pipeline.webserver import local_session, running_webserver

logger = logging.getLogger(__name__)

REQUEST_TIMEOUT_S = 60
EDITIONS = ["2020", "2021", "2022", "2023", "2024"]
RAW_KEYS = {f"raw_{source_id}" for source_id in READERS}
OWNER_TEAM = "ccni-data"

# Direct upstream assets of every asset below the raw layer.
EXPECTED_DEPENDENCIES = {
    "ref_cities": set(),
    "core_city_values": RAW_KEYS | {"ref_cities"},
    "out_indicator_values": {"core_city_values", "ref_cities"},
    "out_indicator_scores": {"out_indicator_values"},
    "out_group_scores": {"out_indicator_scores"},
    "out_dimension_scores": {"out_group_scores"},
    "out_composite_scores": {"out_dimension_scores"},
    "out_edition_summary": {"out_indicator_values"},
    "out_exports": {"out_composite_scores", "out_edition_summary"},
}
EXPECTED_CHECKS = {
    "raw_edgar_city_co2": {"raw_schema"},
    "core_city_values": {
        "core_schema",
        "rows_add_up",
        "sources_resolve",
        "unresolved_city_names",
        "pilot_lists_agree",
    },
    "out_indicator_values": {"clean_energy_data", "implausible_values"},
    "out_indicator_scores": {"indicator_scores_schema"},
    "out_composite_scores": {"composite_schema"},
}

ASSET_NODES_QUERY = """
query AssetGraph {
  assetNodes {
    assetKey { path }
    dependencyKeys { path }
    description
    groupName
    kinds
    owners {
      ... on TeamAssetOwner { team }
      ... on UserAssetOwner { email }
    }
    isPartitioned
    partitionKeys
    assetChecksOrError {
      __typename
      ... on AssetChecks {
        checks {
          name
          blocking
          executionForLatestMaterialization {
            status
            runId
            evaluation { severity }
          }
        }
      }
    }
  }
}
"""

LATEST_MATERIALIZATION_QUERY = """
query LatestMaterialization($assetKey: AssetKeyInput!, $partitions: [String!]) {
  assetNodeOrError(assetKey: $assetKey) {
    __typename
    ... on AssetNode {
      assetMaterializations(partitions: $partitions, limit: 1) {
        partition
        runId
        metadataEntries {
          __typename
          label
          ... on IntMetadataEntry { intValue }
          ... on MarkdownMetadataEntry { mdStr }
          ... on TableSchemaMetadataEntry {
            schema { columns { name type } }
          }
          ... on TableColumnLineageMetadataEntry {
            lineage {
              columnName
              columnDeps { assetKey { path } columnName }
            }
          }
        }
      }
    }
  }
}
"""


@pytest.fixture(scope="module")
def webserver(edition_2022, tmp_path_factory):
    """Base URL of a dagster-webserver on the lake of the edition 2022 run."""
    log_dir = tmp_path_factory.mktemp("webserver")
    with running_webserver(edition_2022.lake, log_dir) as url:
        yield url


@pytest.fixture(scope="module")
def graphql(webserver):
    """Function that posts a GraphQL query to the webserver and returns its data."""
    session = local_session()

    def post(query: str, variables: dict | None = None) -> dict:
        response = session.post(
            f"{webserver}/graphql",
            json={"query": query, "variables": variables or {}},
            timeout=REQUEST_TIMEOUT_S,
        )
        response.raise_for_status()
        body = response.json()
        assert "errors" not in body, f"GraphQL errors: {body['errors']}"
        return body["data"]

    yield post
    session.close()


@pytest.fixture(scope="module")
def asset_nodes(graphql) -> dict[str, dict]:
    """The asset nodes of the code location, by asset name."""
    nodes = graphql(ASSET_NODES_QUERY)["assetNodes"]
    return {"/".join(node["assetKey"]["path"]): node for node in nodes}


def latest_metadata(graphql, asset: str, partition: str | None) -> dict[str, dict]:
    """Return the metadata entries of an asset's latest materialisation, by label."""
    variables = {
        "assetKey": {"path": [asset]},
        "partitions": [partition] if partition else None,
    }
    node = graphql(LATEST_MATERIALIZATION_QUERY, variables)["assetNodeOrError"]
    assert node["__typename"] == "AssetNode", f"{asset} not found: {node}"
    materializations = node["assetMaterializations"]
    assert materializations, f"{asset} (partition {partition}) has no materialisation"
    assert materializations[0]["partition"] == partition
    return {entry["label"]: entry for entry in materializations[0]["metadataEntries"]}


def dependencies(node: dict) -> set[str]:
    return {"/".join(key["path"]) for key in node["dependencyKeys"]}


def checks_of(node: dict) -> dict[str, dict]:
    checks = node["assetChecksOrError"]
    assert checks["__typename"] == "AssetChecks", checks
    return {check["name"]: check for check in checks["checks"]}


def upstream_closure(asset_nodes: dict[str, dict], asset: str) -> set[str]:
    """Return every asset `asset` depends on, directly or through others."""
    seen: set[str] = set()
    pending = [asset]
    while pending:
        for upstream in dependencies(asset_nodes[pending.pop()]) - seen:
            seen.add(upstream)
            pending.append(upstream)
    return seen


# The asset graph


def test_graph_lists_every_asset(asset_nodes):
    expected = RAW_KEYS | set(EXPECTED_DEPENDENCIES)
    assert "raw_edgar_city_co2" in expected
    assert "raw_ccsy_2021" in expected
    assert set(asset_nodes) == expected


def test_raw_assets_have_no_upstream(asset_nodes):
    with_upstream = {key for key in RAW_KEYS if dependencies(asset_nodes[key])}
    assert not with_upstream


@pytest.mark.parametrize("asset", sorted(EXPECTED_DEPENDENCIES))
def test_asset_dependencies(asset_nodes, asset):
    assert dependencies(asset_nodes[asset]) == EXPECTED_DEPENDENCIES[asset]


def test_exports_trace_back_to_every_raw_file(asset_nodes):
    upstream = upstream_closure(asset_nodes, "out_exports")
    assert RAW_KEYS <= upstream
    assert "out_composite_scores" in upstream
    assert "core_city_values" in upstream


# Descriptions, groups, kinds, owners and partitions


def test_every_asset_has_description(asset_nodes):
    missing = sorted(k for k, node in asset_nodes.items() if not node["description"])
    assert not missing, f"assets without a description: {missing}"


def test_every_asset_has_layer_group(asset_nodes):
    groups = {key: node["groupName"] for key, node in asset_nodes.items()}
    assert {groups[key] for key in RAW_KEYS} == {"raw"}
    assert groups["ref_cities"] == "core"
    assert groups["core_city_values"] == "core"
    out_keys = [key for key in EXPECTED_DEPENDENCIES if key.startswith("out_")]
    assert {groups[key] for key in out_keys} == {"scores"}


def test_every_asset_has_kinds(asset_nodes):
    missing = sorted(key for key, node in asset_nodes.items() if not node["kinds"])
    assert not missing, f"assets without kinds: {missing}"
    assert set(asset_nodes["raw_ccsy_2021"]["kinds"]) == {"python", "duckdb"}
    assert set(asset_nodes["out_exports"]["kinds"]) == {"csv"}


def test_every_asset_has_team_owner(asset_nodes):
    teams = {
        key: {owner.get("team") for owner in node["owners"]}
        for key, node in asset_nodes.items()
    }
    missing = sorted(key for key, owners in teams.items() if OWNER_TEAM not in owners)
    assert not missing, f"assets without the {OWNER_TEAM} owner: {missing}"


def test_scores_assets_partitioned_by_edition(asset_nodes):
    partitioned = {key for key, node in asset_nodes.items() if node["isPartitioned"]}
    assert partitioned == {key for key in asset_nodes if key.startswith("out_")}
    for key in sorted(partitioned):
        assert asset_nodes[key]["partitionKeys"] == EDITIONS, key


# Checks and their latest results


@pytest.mark.parametrize("asset", sorted(EXPECTED_CHECKS))
def test_checks_listed_under_asset(asset_nodes, asset):
    assert EXPECTED_CHECKS[asset] <= set(checks_of(asset_nodes[asset]))


def test_every_raw_asset_has_schema_check(asset_nodes):
    checks = {key: checks_of(asset_nodes[key]) for key in RAW_KEYS}
    missing = sorted(key for key in RAW_KEYS if "raw_schema" not in checks[key])
    assert not missing, f"raw assets without raw_schema: {missing}"


def test_check_results_match_run_summary(asset_nodes, edition_2022):
    summary = edition_2022.summary
    executions = {
        f"{asset}:{name}": check["executionForLatestMaterialization"]
        for asset, node in asset_nodes.items()
        for name, check in checks_of(node).items()
    }
    missing = sorted(name for name, execution in executions.items() if not execution)
    assert not missing, f"checks without a result: {missing}"
    assert set(executions) == {
        *summary.checks_passed,
        *summary.checks_warned,
        *summary.checks_failed,
    }
    assert {execution["runId"] for execution in executions.values()} == {summary.run_id}
    for name in summary.checks_passed:
        assert executions[name]["status"] == "SUCCEEDED", name
    for name in summary.checks_warned:
        assert executions[name]["status"] == "FAILED", name
        assert executions[name]["evaluation"]["severity"] == "WARN", name


def test_warning_checks_shown_as_warnings(asset_nodes):
    # The run summary of edition 2022 lists these three as warnings.
    core_checks = checks_of(asset_nodes["core_city_values"])
    values_checks = checks_of(asset_nodes["out_indicator_values"])
    for check in (
        core_checks["unresolved_city_names"],
        core_checks["pilot_lists_agree"],
        values_checks["clean_energy_data"],
    ):
        execution = check["executionForLatestMaterialization"]
        assert execution["status"] == "FAILED", check["name"]
        assert execution["evaluation"]["severity"] == "WARN", check["name"]
        assert check["blocking"] is False, check["name"]


def test_blocking_checks_succeeded(asset_nodes):
    core_checks = checks_of(asset_nodes["core_city_values"])
    for name in ("core_schema", "rows_add_up", "sources_resolve"):
        assert core_checks[name]["blocking"] is True, name
        status = core_checks[name]["executionForLatestMaterialization"]["status"]
        assert status == "SUCCEEDED", name


# Metadata of the latest materialisations


def test_composite_metadata(graphql, edition_2022):
    metadata = latest_metadata(graphql, "out_composite_scores", "2022")
    (rows,) = edition_2022.query(
        "SELECT count(*) AS n FROM out.composite_scores WHERE edition = 2022"
    )["n"]
    assert metadata["dagster/row_count"]["intValue"] == rows
    assert rows == len(edition_2022.scores)
    schema = metadata["dagster/column_schema"]["schema"]
    columns = [column["name"] for column in schema["columns"]]
    assert {"city_code", "composite", "coverage", "rank"} <= set(columns)
    preview_header = metadata["preview"]["mdStr"].splitlines()[0]
    assert "city_code" in preview_header
    assert "composite" in preview_header


def test_composite_column_lineage(graphql):
    metadata = latest_metadata(graphql, "out_composite_scores", "2022")
    lineage = {
        entry["columnName"]: {
            ("/".join(dep["assetKey"]["path"]), dep["columnName"])
            for dep in entry["columnDeps"]
        }
        for entry in metadata["dagster/column_lineage"]["lineage"]
    }
    assert lineage["composite"] == {("out_dimension_scores", "score")}
    assert lineage["coverage"] == {("out_dimension_scores", "coverage")}


def test_core_column_lineage(graphql, edition_2022):
    metadata = latest_metadata(graphql, "core_city_values", None)
    (rows,) = edition_2022.query("SELECT count(*) AS n FROM core.city_values")["n"]
    assert metadata["dagster/row_count"]["intValue"] == rows
    lineage = {
        entry["columnName"]: {
            ("/".join(dep["assetKey"]["path"]), dep["columnName"])
            for dep in entry["columnDeps"]
        }
        for entry in metadata["dagster/column_lineage"]["lineage"]
    }
    assert ("ref_cities", "city_code") in lineage["city_code"]
    assert ("raw_edgar_city_co2", "city_name") in lineage["city_code"]
    assert {(raw, "value") for raw in RAW_KEYS} == lineage["value"]
    assert ("raw_ccsy_2021", "raw_row_id") in lineage["raw_row_id"]


def test_lineage_columns_exist_upstream(graphql, asset_nodes):
    """Each column lineage entry names columns listed in the column schemas, so the
    UI can link a column to its upstream columns."""
    schemas: dict[str, set[str]] = {}
    lineages: dict[str, list[dict]] = {}
    for key, node in asset_nodes.items():
        partition = "2022" if node["isPartitioned"] else None
        metadata = latest_metadata(graphql, key, partition)
        if "dagster/column_schema" in metadata:
            columns = metadata["dagster/column_schema"]["schema"]["columns"]
            schemas[key] = {column["name"] for column in columns}
        if "dagster/column_lineage" in metadata:
            lineages[key] = metadata["dagster/column_lineage"]["lineage"]
    assert set(lineages) >= {"core_city_values", "out_composite_scores"}
    unknown = []
    for key, lineage in sorted(lineages.items()):
        for entry in lineage:
            if entry["columnName"] not in schemas.get(key, set()):
                unknown.append(f"{key}.{entry['columnName']}")
            for dep in entry["columnDeps"]:
                upstream = "/".join(dep["assetKey"]["path"])
                if dep["columnName"] not in schemas.get(upstream, set()):
                    unknown.append(f"{upstream}.{dep['columnName']} (from {key})")
    assert not unknown, f"lineage names columns missing from a schema: {unknown}"
