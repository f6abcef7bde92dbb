"""No server file is reachable by its path; the live reading's weights come by a link (src/web/downloads.py)."""

import html
import re

import requests

from src.web.downloads import WeightLinks


def test_no_file_under_the_checkpoint_or_visitor_folders_is_served_by_its_path(server, client):
    client.predict("", api_name="/predict")  # an empty pad: the visitor exists...
    own = server.visitor(client).folder / "runs" / "x.safetensors"
    targets = [
        server.checkpoint_dir / "default.safetensors",
        server.checkpoint_dir / "default.json",
        server.checkpoint_dir / "no-such-file.json",
        own,
        server.visitor_dir / "v-0" / "nothing.png",
    ]
    for path in targets:
        r = requests.get(f"{server.url}gradio_api/file={path}", timeout=30)
        assert r.status_code == 403, (path, r.status_code)  # the same answer whether the file exists or not


def test_no_absolute_server_path_is_in_the_page_or_its_config(server):
    from tests.conftest import ROOT

    text = requests.get(server.url, timeout=30).text + requests.get(server.url + "config", timeout=30).text
    for folder in (server.checkpoint_dir, server.visitor_dir, ROOT):
        assert str(folder) not in text, folder


def test_the_live_reading_gets_the_default_weights_by_its_link_and_nothing_by_a_made_up_one(server, default_checkpoint):
    page = requests.get(server.url, timeout=30).text
    link = re.search(r'data-weights=\\?"(weights/[\w-]+)\\?"', html.unescape(page))[1]
    r = requests.get(server.url + link, timeout=30)
    assert r.status_code == 200 and r.content == default_checkpoint.read_bytes()
    assert requests.get(server.url + "weights/made-up-token", timeout=30).status_code == 404


def test_links_are_one_per_file_random_and_forgotten_beyond_the_limit(tmp_path):
    a, b, c = (tmp_path / f"{n}.safetensors" for n in "abc")
    links = WeightLinks(max_links=2)
    first = links.url(a)
    assert links.url(a) == first and links.url(b) != first and first.startswith("weights/")
    assert len(first.split("/")[1]) >= 24 and links.path(first.split("/")[1]) == a.resolve()
    links.url(c)  # a third link: the least recently issued (a's) is forgotten
    assert links.path(first.split("/")[1]) is None and links.url(None) == ""
