"""Recipients: loading CSV/Parquet and per-row quarantine with a reason for every bad row."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from voicemill.campaign.errors import CampaignError
from voicemill.campaign.recipients import (
    PreparedRecipients,
    load_recipients,
    prepare_recipients,
    rendered_frame,
    unsupported_characters,
)
from voicemill.campaign.spec import CampaignSpec

COLUMNS = ["recipient_id", "first_name", "city", "template_id", "email"]
# (recipient_id, first_name, city, template_id) → expected reason (None: accepted)
ROWS: list[tuple[list[str], str | None]] = [
    (["r-001", "Ann", "Paris", ""], None),
    (["../../etc/passwd", "Bob", "Rome", ""], None),  # a valid id; keys make it safe
    (["team/alice", "Alice", "Oslo", "vip"], None),
    (["", "Nobody", "Paris", ""], "empty_recipient_id"),
    (["   ", "Blank", "Paris", ""], "empty_recipient_id"),
    (["nul\x00id", "Nul", "Paris", ""], "recipient_id_invalid"),
    (["tab\tid", "Tab", "Paris", ""], "recipient_id_invalid"),
    (["x" * 300, "Long", "Paris", ""], "recipient_id_too_long"),
    (["r-001", "Ann again", "Lyon", ""], "duplicate_recipient_id"),
    (["r-010", "Gold", "Paris", "gold"], "unknown_template"),
    (["r-011", "Hacker", "Paris", "escape"], "sandbox_violation"),
    (["r-012", "Ratio", "Paris", "divide"], "render_failed"),
    (["r-013", "NoCity", "", "needs_zip"], "missing_variable"),
    (["r-014", "!!!", "...", "blank"], "text_empty"),  # nothing speakable
    (["r-015", "A" * 2_000, "Paris", "echo"], "text_too_long"),
    (["r-016", "😀", "Paris", ""], "unsupported_characters"),
    (["r-017", "Иван", "Москва", ""], "unsupported_characters"),
    (["r-018", "أحمد", "Paris", ""], "unsupported_characters"),
    (["r-019", "राज", "Paris", ""], "unsupported_characters"),
    (["r-020", "李雷", "Paris", ""], "unsupported_characters"),  # Han in an en campaign
    (["r-021", "José", "Zürich", ""], None),
    (["r-022", "Ｆｕｌｌ", "NYC", ""], None),  # full-width Latin reads as Latin
    (["r-023", "Zoe", "  ", "blank"], "missing_variable"),  # a blank cell is missing
    (["r-024", "A" * 20_000, "Paris", "echo"], "cell_too_long"),  # over the cell limit
]


def _spec(**overrides: object) -> CampaignSpec:
    data: dict[str, object] = {
        "campaign_id": "spring",
        "voice_profile": "ann",
        "language": "en",
        "templates": [
            {"id": "main", "text": "Hi {{ first_name }}, welcome back to {{ city }}!"},
            {"id": "vip", "text": "Dear {{ first_name }},\n  your VIP gift waits in {{ city }}."},
            {"id": "escape", "text": "{{ first_name.__class__.__mro__ }}"},
            {"id": "divide", "text": "{{ first_name }} {{ 1 / 0 }}"},
            {"id": "needs_zip", "text": "{{ first_name }} at {{ zip_code }}"},
            {"id": "blank", "text": "{{ first_name }} {{ city }}"},
            {"id": "echo", "text": "{{ first_name }}"},
        ],
    }
    data.update(overrides)
    return CampaignSpec.model_validate(data)


def _frame() -> pd.DataFrame:
    rows = [[*values, f"{i}@example.com"] for i, (values, _) in enumerate(ROWS)]
    return pd.DataFrame(rows, columns=COLUMNS)


def _write(frame: pd.DataFrame, tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"recipients.{kind}"
    if kind == "csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return path


@pytest.fixture(params=["csv", "parquet"])
def prepared(request: pytest.FixtureRequest, tmp_path: Path) -> PreparedRecipients:
    frame = load_recipients(_write(_frame(), tmp_path, request.param))
    spec = _spec()
    return prepare_recipients(spec, frame)


def test_every_bad_row_is_quarantined_and_good_rows_survive(prepared: PreparedRecipients) -> None:
    outcome: dict[int, str | None] = {row.row_number: None for row in prepared.accepted}
    outcome.update({row.row_number: row.reason for row in prepared.rejected})
    assert outcome == {i + 1: reason for i, (_, reason) in enumerate(ROWS)}
    assert prepared.total == len(ROWS)
    assert [r.recipient_id for r in prepared.accepted] == [
        "r-001", "../../etc/passwd", "team/alice", "r-021", "r-022",
    ]  # fmt: skip
    texts = {r.recipient_id: r.text for r in prepared.accepted}
    assert texts["r-001"] == "Hi Ann, welcome back to Paris!"
    assert texts["team/alice"] == "Dear Alice, your VIP gift waits in Oslo."
    assert texts["r-021"] == "Hi José, welcome back to Zürich!"
    assert prepared.rejection_counts()["unsupported_characters"] == 5
    assert prepared.rejection_rate == pytest.approx(19 / 24)


def test_rejection_details_name_the_problem(prepared: PreparedRecipients) -> None:
    by_row = {row.row_number: row for row in prepared.rejected}
    assert by_row[4].detail == "row 4: recipient_id is empty"
    assert "U+0000" in by_row[6].detail and "position 4" in by_row[6].detail
    assert by_row[6].recipient_id == "nul\x00id"  # kept as given
    assert by_row[6].printable_recipient_id == "nul\\x00id"
    assert "300 characters" in by_row[8].detail
    assert by_row[8].recipient_id == "x" * 300
    assert "already appears in row 1" in by_row[9].detail
    assert "'gold'" in by_row[10].detail and by_row[10].template_id == "gold"
    assert "__class__" in by_row[11].detail and by_row[11].template_id == "escape"
    assert "ZeroDivisionError" in by_row[12].detail
    assert "'zip_code'" in by_row[13].detail
    assert "2000 characters" in by_row[15].detail and "maximum 1000" in by_row[15].detail
    assert "'first_name' has 20000 characters" in by_row[24].detail
    assert "U+1F600 GRINNING FACE" in by_row[16].detail
    assert "CYRILLIC" in by_row[17].detail
    assert "ARABIC LETTER" in by_row[18].detail
    assert "DEVANAGARI" in by_row[19].detail
    assert "CJK UNIFIED IDEOGRAPH-674E" in by_row[20].detail
    assert all(row.detail.startswith(f"row {row.row_number}: ") for row in prepared.rejected)


def test_variables_keep_only_what_the_template_reads(prepared: PreparedRecipients) -> None:
    row = prepared.accepted[0]
    assert row.variables == {"first_name": "Ann", "city": "Paris"}  # no email, no ids
    assert row.template_id == "main"
    assert len(row.text_sha256) == 64


def test_duplicate_keeps_the_first_occurrence_even_if_it_was_rejected() -> None:
    spec = _spec()
    frame = pd.DataFrame(
        [["d1", "😀", "Paris"], ["d1", "Ann", "Paris"], ["d2", "Bo", "Rome"], ["d2", "Cy", "Oslo"]],
        columns=["recipient_id", "first_name", "city"],
    )
    prepared = prepare_recipients(spec, frame)
    assert [(r.row_number, r.reason) for r in prepared.rejected] == [
        (1, "unsupported_characters"),
        (2, "duplicate_recipient_id"),
        (4, "duplicate_recipient_id"),
    ]
    assert [r.text for r in prepared.accepted] == ["Hi Bo, welcome back to Rome!"]


def test_text_limits_and_nothing_to_say() -> None:
    spec = _spec(
        templates=[{"id": "main", "text": "{{ first_name }}"}],
        text_limits={"min_chars": 3, "max_chars": 20},
    )
    frame = pd.DataFrame(
        {
            "recipient_id": ["a", "b", "c", "d", "e"],
            "first_name": ["Al", "Anna", "!!! ...", "x" * 21, " \n "],
        }
    )
    reasons = [(r.recipient_id, r.reason) for r in prepare_recipients(spec, frame).rejected]
    assert reasons == [
        ("a", "text_too_short"),
        ("c", "text_empty"),
        ("d", "text_too_long"),
        ("e", "missing_variable"),  # blank cells are missing values
    ]


@pytest.mark.parametrize(
    ("language", "text", "bad"),
    [
        ("en", "Hello, José! Price: $5.50 (50% off) — “today” … ¡olé!", []),
        ("en", "Ｈｅｌｌｏ １２３ ™", []),
        ("en", "Hi 👋🏽 there", ["👋", "\U0001f3fd"]),
        ("en", "I ❤️ it", ["❤", "\ufe0f"]),
        ("en", "family 👨\u200d👩\u200d👧", ["👨", "\u200d", "👩", "👧"]),
        ("en", "你好 world", ["你", "好"]),
        ("en", "Привет", ["П", "р", "и", "в", "е", "т"]),
        ("en", "Γειά", ["Γ", "ε", "ι", "ά"]),
        ("en", "안녕", ["안", "녕"]),
        ("en", "tab\x00nul", ["\x00"]),
        ("zh", "你好，Ann！欢迎来到北京。", []),
        ("zh", "こんにちは", ["こ", "ん", "に", "ち", "は"]),
        ("ja", "こんにちは、アンさん。東京へようこそ！", []),
        ("ja", "ｱﾝさん", []),
        ("ja", "مرحبا", ["م", "ر", "ح", "ب", "ا"]),
        ("auto", "Hi 你好 こんにちは", []),
        ("auto", "Hi 😀", ["😀"]),
    ],
)
def test_unsupported_characters(language: str, text: str, bad: list[str]) -> None:
    assert unsupported_characters(text, language) == bad


def test_unknown_language_is_refused() -> None:
    with pytest.raises(CampaignError) as info:
        unsupported_characters("hi", "fr")
    assert info.value.reason == "unsupported_language"


def test_zh_campaign_accepts_han_and_rejects_kana() -> None:
    spec = _spec(language="zh", templates=[{"id": "main", "text": "{{ first_name }}，你好！"}])
    frame = pd.DataFrame({"recipient_id": ["a", "b"], "first_name": ["李雷", "さくら"]})
    prepared = prepare_recipients(spec, frame)
    assert [r.text for r in prepared.accepted] == ["李雷，你好！"]
    assert prepared.rejected[0].reason == "unsupported_characters"
    assert "HIRAGANA LETTER SA" in prepared.rejected[0].detail


# ----------------------------------------------------------------------------- loading


def test_csv_cells_stay_strings(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text(
        "\ufeffrecipient_id, first_name ,code\n007,NA,\n008,null,0012\n", encoding="utf-8"
    )
    frame = load_recipients(path)
    assert list(frame.columns) == ["recipient_id", "first_name", "code"]  # BOM, spaces gone
    assert frame.to_dict("records") == [
        {"recipient_id": "007", "first_name": "NA", "code": ""},
        {"recipient_id": "008", "first_name": "null", "code": "0012"},
    ]


def test_parquet_values_become_exact_strings_and_nulls_absent(tmp_path: Path) -> None:
    table = pa.table(
        {
            "recipient_id": pa.array([1, 2, 3], type=pa.int64()),
            "first_name": pa.array(["Ann", None, "Cy"]),
            "visits": pa.array([5, None, 7], type=pa.int64()),
            "ratio": pa.array([0.5, 1.0, None]),
        }
    )
    path = tmp_path / "r.parquet"
    pq.write_table(table, path)
    frame = load_recipients(path)
    assert frame["recipient_id"].tolist() == ["1", "2", "3"]
    assert frame["visits"].tolist()[0] == "5"  # not "5.0"
    spec = _spec(
        templates=[
            {"id": "main", "text": "{{ first_name | default('friend') }}: {{ visits }} visits"},
            {"id": "strict", "text": "{{ first_name }}"},
        ]
    )
    prepared = prepare_recipients(spec, frame)
    assert [r.text for r in prepared.accepted] == ["Ann: 5 visits", "Cy: 7 visits"]
    assert prepared.rejected[0].reason == "missing_variable"
    assert "'visits'" in prepared.rejected[0].detail


def test_null_recipient_id_in_parquet_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "r.parquet"
    pq.write_table(pa.table({"recipient_id": ["a", None], "first_name": ["A", "B"],
                             "city": ["X", "Y"]}), path)  # fmt: skip
    prepared = prepare_recipients(_spec(), load_recipients(path))
    assert [(r.row_number, r.reason, r.recipient_id) for r in prepared.rejected] == [
        (2, "empty_recipient_id", None)
    ]


@pytest.mark.parametrize(
    ("name", "content", "reason", "needle"),
    [
        ("r.txt", "recipient_id\na\n", "recipients_unreadable", ".csv or .parquet"),
        ("r.csv", "", "recipients_unreadable", "empty"),
        ("r.csv", "\n\n", "recipients_unreadable", "empty"),
        ("r.csv", "recipient_id, name,name \n1,a,b\n", "recipients_unreadable", "'name'"),
        ("r.csv", "id,name\n1,Ann\n", "recipients_missing_column", "'recipient_id'"),
        ("r.csv", "recipient_id,name,name\n1,a,b\n", "recipients_unreadable", "'name'"),
        ("r.csv", 'recipient_id,name\n1,"unclosed\n', "recipients_unreadable", "r.csv"),
        ("r.csv", "recipient_id,name\n1,a,b,c\n", "recipients_unreadable", "r.csv"),
        ("r.parquet", "not parquet at all", "recipients_unreadable", "r.parquet"),
    ],
)
def test_unreadable_recipient_files(
    tmp_path: Path, name: str, content: str, reason: str, needle: str
) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(CampaignError) as info:
        load_recipients(path)
    assert info.value.reason == reason
    assert needle in info.value.detail


def test_non_utf8_csv_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_bytes("recipient_id,name\n1,Zoë\n".encode("latin-1"))
    with pytest.raises(CampaignError) as info:
        load_recipients(path)
    assert info.value.reason == "recipients_unreadable"
    assert "r.csv" in info.value.detail


def test_missing_file_and_missing_id_column_in_frame(tmp_path: Path) -> None:
    with pytest.raises(CampaignError) as info:
        load_recipients(tmp_path / "absent.csv")
    assert info.value.reason == "recipients_unreadable"
    with pytest.raises(CampaignError) as info:
        prepare_recipients(_spec(), pd.DataFrame({"id": ["1"]}))
    assert info.value.reason == "recipients_missing_column"


def test_rendered_frame_columns(prepared: PreparedRecipients) -> None:
    frame = rendered_frame(prepared.accepted)
    assert list(frame.columns) == [
        "recipient_id", "template_id", "text", "text_chars", "city", "first_name",
    ]  # fmt: skip
    assert frame["text_chars"].tolist() == [len(r.text) for r in prepared.accepted]
    empty = rendered_frame([])
    assert list(empty.columns) == ["recipient_id", "template_id", "text", "text_chars"]
