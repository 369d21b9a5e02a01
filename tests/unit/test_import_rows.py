"""An import's row count is known before its rows are parsed, and agrees with the parse."""

import pytest

from services.registry.service_layer.imports import count_rows, parse_rows

FILES = [
    '{"a": 1}\n{"b": 2}',
    '{"a": 1}\n\n   \n{"b": 2}\n',
    '{"a": 1}\r\n[1, 2]\r\nnot json\r\n"text"\r\n',
    '{"a": "x\\u2028y"}\u2028{"b": 2}\x1c{"c": 3}',
    "\n\n",
    '{"a": {"b": {"c": 1}}}\t\n',
]


@pytest.mark.parametrize("content", FILES)
def test_json_lines_are_counted_as_they_are_parsed(content):
    assert count_rows("jsonl", content) == len(parse_rows("jsonl", content))


def test_csv_rows_are_households():
    content = (
        "external_ref,region_code,address,name,id_number,relation,labour_capacity\n"
        "r1,220122,a,n1,x,head,full\n"
        "r1,220122,a,n2,y,spouse,full\n"
        "r2,220122,b,n3,z,head,full\n"
    )
    assert count_rows("csv", content) == 2 == len(parse_rows("csv", content))
