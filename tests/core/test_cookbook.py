"""The Cookbook page: the example programs in NEXEVO_EXAMPLES_DIR, listed by their docstring's first
line and shown with their code, to anyone, signed in or not."""

import ast
import html
import os
import re
import textwrap
from pathlib import Path

import pytest
from django.conf import settings

pytestmark = pytest.mark.django_db

STREAMING = textwrap.dedent(
    '''\
    """Stream a chat completion and print the tokens as they arrive.

    The reply comes as server-sent events; the last one carries the usage
    when stream_options.include_usage is set.

        NEXEVO_API_KEY=sk-... python examples/streaming.py
    """

    import os

    from nexevo import Nexevo

    client = Nexevo(base_url=os.environ["NEXEVO_BASE_URL"])
    print("<not markup>", "x" * 200)
    '''
)
RAG = '"""Answer from your own documents with local retrieval."""\nprint("rag")\n'


@pytest.fixture
def examples(tmp_path, settings):
    directory = tmp_path / "examples"
    directory.mkdir()
    (directory / "streaming.py").write_text(STREAMING)
    (directory / "rag.py").write_text(RAG)
    settings.NEXEVO_EXAMPLES_DIR = directory
    return directory


def test_it_lists_every_example_by_its_title_without_sign_in(client, examples):
    response = client.get("/cookbook/")

    assert response.status_code == 200
    listed = [(example.name, example.title) for example in response.context["examples"]]
    assert listed == [
        ("rag", "Answer from your own documents with local retrieval"),
        ("streaming", "Stream a chat completion and print the tokens as they arrive"),
    ]
    page = response.content.decode()
    assert 'href="/cookbook/streaming/"' in page
    assert 'href="/cookbook/rag/"' in page
    # The description's first paragraph, its wrapped lines joined.
    assert "The reply comes as server-sent events; the last one carries the usage when" in page
    assert "http://testserver" in page  # the run line points at this console


def test_it_shows_an_examples_code_and_description(client, alice, examples):
    client.force_login(alice)

    response = client.get("/cookbook/streaming/")

    assert response.status_code == 200
    example = response.context["example"]
    assert example.title == "Stream a chat completion and print the tokens as they arrive"
    assert [paragraph.kind for paragraph in example.description] == ["prose", "code"]
    assert example.description[1].text == "NEXEVO_API_KEY=sk-... python examples/streaming.py"
    page = response.content.decode()
    assert 'data-copy="#example-code"' in page
    code_block = page.split('id="example-code"', 1)[1].split("</pre>", 1)[0]
    # The code is escaped, coloured, and its text is the file itself.
    assert "<not markup>" not in page
    assert "&lt;not markup&gt;" in code_block
    text = re.sub(r"<[^>]+>", "", code_block.partition("<code>")[2])
    assert html.unescape(text) == STREAMING


def test_it_reads_lists_commands_and_code_marks_in_a_description(client, examples):
    (examples / "error_handling.py").write_text(
        textwrap.dedent(
            '''\
            """Handle 402, 429 and 5xx: retry what a `retry` can fix.

            - 429 and 5xx: wait and retry; a refused request is not
              charged, so retrying it is safe.
            - 402: stop and say <why>.

            NEXEVO_API_KEY=sk-... python examples/error_handling.py
            Exit status: 0 answered.
            """
            '''
        )
    )

    response = client.get("/cookbook/error_handling/")

    example = response.context["example"]
    assert example.title == "Handle 402, 429 and 5xx: retry what a retry can fix"
    assert [(paragraph.kind, paragraph.lines) for paragraph in example.description] == [
        (
            "list",
            (
                "429 and 5xx: wait and retry; a refused request is not charged, so retrying it is safe.",
                "402: stop and say <why>.",
            ),
        ),
        ("code", ("NEXEVO_API_KEY=sk-... python examples/error_handling.py",)),
        ("prose", ("Exit status: 0 answered.",)),
    ]
    page = response.content.decode()
    assert "retry what a <code>retry</code> can fix" in page
    assert "<li>402: stop and say &lt;why&gt;.</li>" in page
    assert "<pre>NEXEVO_API_KEY=sk-... python examples/error_handling.py</pre>" in page


def test_it_answers_404_for_an_unknown_example(client, examples):
    assert client.get("/cookbook/nothing-here/").status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/cookbook/../settings/",
        "/cookbook/..%2f..%2fnexevo_site%2fsettings/",
        "/cookbook/%2e%2e/",
        "/cookbook/secret/",
        "/cookbook/_private/",
        "/cookbook/notes/",
    ],
)
def test_it_serves_nothing_outside_the_examples(client, examples, tmp_path, path):
    (tmp_path / "secret.py").write_text('"""Outside the examples directory."""\nTOKEN = "s3cret"\n')
    os.symlink(tmp_path / "secret.py", examples / "secret.py")
    (examples / "_private.py").write_text('"""A helper, not an example."""\nTOKEN = "s3cret"\n')
    (examples / "notes.txt").write_text("s3cret")

    response = client.get(path)

    assert response.status_code == 404
    assert "s3cret" not in response.content.decode()
    listed = [example.name for example in client.get("/cookbook/").context["examples"]]
    assert listed == ["rag", "streaming"]


def test_it_picks_up_an_edited_example(client, examples):
    assert client.get("/cookbook/").context["examples"][0].title.startswith("Answer from")

    (examples / "rag.py").write_text('"""Retrieve, then answer: local search over a few paragraphs."""\n')
    stat = (examples / "rag.py").stat()
    os.utime(examples / "rag.py", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))

    assert client.get("/cookbook/rag/").context["example"].title == (
        "Retrieve, then answer: local search over a few paragraphs"
    )


def test_it_titles_an_example_without_a_docstring_by_its_name(client, examples):
    (examples / "usage_csv.py").write_text("print('no docstring')\n")
    (examples / "broken.py").write_text("def (:\n")

    titles = {example.name: example.title for example in client.get("/cookbook/").context["examples"]}

    assert titles["usage_csv"] == "Usage csv"
    assert titles["broken"] == "Broken"
    assert client.get("/cookbook/broken/").status_code == 200


@pytest.mark.parametrize("missing", [True, False])
def test_it_says_so_when_there_are_no_examples(client, tmp_path, settings, missing):
    directory = tmp_path / "examples"
    if not missing:
        directory.mkdir()
    settings.NEXEVO_EXAMPLES_DIR = directory

    response = client.get("/cookbook/")

    assert response.status_code == 200
    assert response.context["examples"] == []
    assert 'data-testid="cookbook-empty"' in response.content.decode()


def test_the_navigation_links_to_the_cookbook(client, alice, examples):
    signed_out = client.get("/accounts/login/").content.decode()
    assert signed_out.count('href="/cookbook/"') == 2  # the top bar and the footer
    client.force_login(alice)
    page = client.get("/cookbook/").content.decode()
    assert '<a href="/cookbook/" aria-current="page">' in page


def test_it_lists_every_program_in_the_repositorys_examples(client):
    directory = Path(settings.BASE_DIR) / "examples"
    programs = sorted(path.stem for path in directory.glob("*.py") if not path.name.startswith(("_", ".")))
    if not programs:
        pytest.skip(f"{directory} has no example programs yet")

    examples = client.get("/cookbook/").context["examples"]

    assert [example.name for example in examples] == programs
    for example in examples:
        docstring = ast.get_docstring(ast.parse((directory / example.filename).read_text()))
        assert docstring, f"{example.filename} has no module docstring to title it"
        assert example.title == docstring.splitlines()[0].strip().removesuffix(".").replace("`", "")
        assert client.get(f"/cookbook/{example.name}/").status_code == 200
