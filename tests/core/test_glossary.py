"""The catalog follows the glossary (locale/GLOSSARY.md): where an English term of the glossary
appears in a msgid, its Chinese term appears in the translation. How the table is read is written
under the table."""

import pytest

from tests.core.catalogs.checks import FIXTURES, catalog_path, glossary_terms, glossary_violations, load


def test_it_follows_the_glossary_in_the_catalog():
    path = catalog_path()
    assert path.exists(), (
        f"No catalog at {path}: build locale/zh_Hans/LC_MESSAGES/django.po (locale/README.md), "
        "or point NEXEVO_CATALOG at one."
    )
    violations = glossary_violations(load(path), glossary_terms())
    assert not violations, "Off the glossary:\n" + "\n".join(violations)


def test_it_reads_every_row_of_the_glossary():
    terms = {term.english: term for term in glossary_terms()}
    assert terms["usage"].chinese == ("用量",)
    assert terms["usage"].forbidden == ("用途",)
    assert terms["tokens"].forbidden == ("令牌",)
    assert terms["e-mail"].chinese == ("邮箱", "邮件")
    assert terms["bring your own key (BYOK)"].chinese == ("自带密钥",)
    assert terms["top-up / top up"].pattern.search("Top up your balance")
    assert terms["sign in"].pattern.search("Sign-in failed")
    assert terms["member"].pattern.search("Members")
    assert not terms["plan"].pattern.search("explanation")
    assert not terms["tokens"].pattern.search("max_tokens")


def test_it_accepts_a_catalog_that_follows_the_glossary():
    assert glossary_violations(load(FIXTURES / "complete.po"), glossary_terms()) == []


def test_it_names_each_entry_off_the_glossary():
    violations = "\n".join(glossary_violations(load(FIXTURES / "off_glossary.po"), glossary_terms()))

    assert "'Usage this month': never '用途'" in violations
    assert "'Usage this month': 'usage' should read '用量'" in violations
    assert "never '令牌' ('tokens')" not in violations  # the entry says "key", not "tokens"
    assert "'Revoke this API key': 'API key' should read 'API 密钥'" in violations
    assert "'Name': never '任务名'" in violations
    assert "'Top-up': 'top-up / top up' should read '充值'" in violations
    # "Members of the organization" reads 组织的成员: both terms are there.
    assert "Members of the organization" not in violations


@pytest.mark.parametrize(
    ("msgid", "msgstr", "follows"),
    [
        # A longer term claims its words: "API key" does not also need "key" on its own.
        ("Create an API key", "创建 API 密钥", True),
        # A placeholder named after a term is not the term.
        ("Hello %(name)s", "你好，%(name)s", True),
        # Kept identical in English on purpose (e.g. a model id): nothing to check.
        ("Webhook", "Webhook", True),
        ("Spend cap", "花费上限", False),
        # "Where a word is not the term": a metadata key is no API key.
        ("Metadata key", "元数据键", True),
        ("Revoke the key", "删除该键", False),
        # An example address is not a name.
        ("Enter an address like name@example.com.", "请输入类似 name@example.com 的地址。", True),
    ],
)
def test_it_matches_terms_as_words(tmp_path, msgid, msgstr, follows):
    path = tmp_path / "one.po"
    path.write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
        f'msgid "{msgid}"\nmsgstr "{msgstr}"\n',
        encoding="utf-8",
    )
    assert (glossary_violations(load(path), glossary_terms()) == []) is follows
