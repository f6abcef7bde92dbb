"""The operator's page (src/web/operator_page.py): absent without ADMIN_PASSWORD; with it, only a signed-in
operator can promote a run (the new default for new visitors), delete runs and export shared corrections."""

import json
import urllib.request
import zipfile

import pytest
from gradio_client.exceptions import AppError

from src.web import corrections
from tests.conftest import Server, app_client
from tests.test_visitors import correct, drawing_of, train

OPERATOR_ENDPOINTS = {
    "/operator_sign_in",
    "/operator_runs",
    "/operator_promote",
    "/operator_delete",
    "/operator_export",
}
PASSWORD = "correct horse battery staple"


def endpoints(client) -> set[str]:
    return set(client.view_api(return_format="dict", print_info=False)["named_endpoints"])


def operator_parts(server) -> tuple[list, list]:
    """(pages named operator, components with an operator-… elem_id) in the page's config."""
    config = json.loads(urllib.request.urlopen(server.url + "config").read())
    pages = [page for page in config.get("pages", []) if "operator" in str(page)]
    return pages, [c for c in config["components"] if "operator" in str(c.get("props", {}).get("elem_id", ""))]


def test_without_the_secret_there_is_no_operator_control_on_the_page_or_in_the_api(server, client):
    assert not endpoints(client) & OPERATOR_ENDPOINTS
    assert operator_parts(server) == ([], [])


@pytest.fixture(scope="module")
def operated(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("operated"), env={"ADMIN_PASSWORD": PASSWORD})
    yield s
    s.stop()


@pytest.mark.slow
def test_with_the_secret_a_signed_in_operator_promotes_a_run_for_new_visitors(operated, tmp_path):
    operator, visitor = app_client(operated.url), app_client(operated.url)
    assert OPERATOR_ENDPOINTS <= endpoints(operator)
    pages, parts = operator_parts(operated)
    assert pages and parts  # the page exists, reached by its address (/operator)
    # Signed out, every operator action is refused, through the API as well; a wrong password too.
    for name, args in (
        ("/operator_runs", ()),
        ("/operator_promote", ("x",)),
        ("/operator_delete", ("x",)),
        ("/operator_export", ()),
    ):
        with pytest.raises(AppError, match="Sign in as the operator first"):
            operator.predict(*args, api_name=name)
    with pytest.raises(AppError, match="Wrong password"):
        operator.predict("guess", api_name="/operator_sign_in")

    # A visitor trains a run; their answers with it differ from the default's.
    three = drawing_of(3, tmp_path)
    default_answer = visitor.predict(three, api_name="/classify")
    job = train(visitor, seed=0, max_examples=1000)
    assert job.result(timeout=300)[2].startswith("Finished")
    run = next(operated.visitor(visitor).runs.glob("trained-*.json")).with_suffix(".safetensors").name
    visitor.predict(f"yours/{run}", api_name="/use_model")
    run_answer = visitor.predict(three, api_name="/classify")
    assert run_answer["probabilities"] != default_answer["probabilities"]

    # The operator signs in, sees the run, promotes it: new visitors get it as their default.
    listing, table, status = operator.predict(PASSWORD, api_name="/operator_sign_in")
    label = next(row[0] for row in table["data"] if row[0].endswith(run))
    *_, result = operator.predict(label, api_name="/operator_promote")
    assert f"promoted-{run}" in result
    newcomer = app_client(operated.url)
    assert newcomer.predict(three, api_name="/classify") == run_answer
    assert (operated.checkpoint_dir / "DEFAULT").read_text().strip() == f"promoted-{run}"  # kept across restarts

    # Deleting the default in use is refused; deleting the visitor's own copy works.
    with pytest.raises(AppError, match="default model in use"):
        operator.predict(f"server/promoted-{run}", api_name="/operator_delete")
    operator.predict(label, api_name="/operator_delete")
    assert operated.visitor(visitor).run_files() == []
    assert newcomer.predict(three, api_name="/classify") == run_answer  # the promoted copy stays


@pytest.mark.slow
def test_the_export_holds_only_the_corrections_of_visitors_who_chose_to_share(operated, tmp_path):
    sharer, private, operator = (app_client(operated.url) for _ in range(3))
    sharer.predict(True, api_name="/share_corrections")
    correct((sharer, "4"), (sharer, "6"), (private, "1"))
    assert corrections.count(operated.visitor(private).corrections) == 1
    operator.predict(PASSWORD, api_name="/operator_sign_in")
    archive = operator.predict(api_name="/operator_export")
    with zipfile.ZipFile(archive) as z:
        labels = sorted(name[-5] for name in z.namelist())
    assert labels == ["4", "6"]
