from tests.helpers import ts


async def test_write_then_read_back(api):
    body = {"labels": {"app": "web"}, "lines": [{"@timestamp": ts(-i), "message": f"line {i}"} for i in range(5)]}
    result = await api.post_lines(body)
    assert result == {"accepted": 5, "rejected": []}
    page = await api.get_lines(labels__app="web")
    assert [line["message"] for line in page["lines"]] == [f"line {i}" for i in reversed(range(5))]
