"""HTTP's edges (issue 15): a HEAD changes nothing (the flash message stays for the next GET), a
part of a file (206) is never gzipped, `gzip;q=0` refuses gzip, every 405 names what is allowed,
and another method on a page is 405, not a 403 "form expired"."""

import gzip

import pytest

CSS = "/static/css/shop.css"


async def _raw(http_client, base_url, path, *, method="GET", headers=None, body=None):
    """The answer as sent: not decompressed, redirects not followed, errors as answers."""
    return await http_client.fetch(base_url + path, method=method, headers=headers or {}, body=body,
                                   decompress_response=False, follow_redirects=False, raise_error=False,
                                   allow_nonstandard_methods=True)


@pytest.mark.gen_test
async def test_head_leaves_the_flash_message_for_the_next_get(client, product_ids):
    assert (await client.add(product_ids[0])).code == 303
    head = await client.fetch("/cart", method="HEAD")
    assert head.code == 200
    assert "Added 1" in (await client.page("/cart")).flash


@pytest.mark.gen_test
async def test_head_does_not_roll_the_sessions_ttl(app, client, product_ids):
    await client.add(product_ids[0])
    ttls = []
    load = app.session_store.load

    async def watched_load(session_id, *, extend_ttl=None):
        ttls.append(extend_ttl)
        return await load(session_id, extend_ttl=extend_ttl)

    app.session_store.load = watched_load
    assert (await client.fetch("/cart", method="HEAD")).code == 200
    assert (await client.fetch("/cart")).code == 200
    # The HEAD read it without rolling its expiry; the GET rolled it.
    assert ttls == [None, app.config.session_ttl], ttls


@pytest.mark.gen_test
async def test_a_range_request_gets_its_part_uncompressed(app, http_client, base_url):
    whole = await _raw(http_client, base_url, CSS, headers={"Accept-Encoding": "gzip"})
    assert whole.code == 200 and whole.headers.get("Content-Encoding") == "gzip"
    part = await _raw(http_client, base_url, CSS, headers={"Accept-Encoding": "gzip", "Range": "bytes=0-99"})
    assert part.code == 206
    assert "Content-Encoding" not in part.headers
    assert part.headers["Content-Range"].startswith("bytes 0-99/")
    assert part.body == gzip.decompress(whole.body)[:100]


@pytest.mark.parametrize("accept_encoding, gzipped", [
    ("gzip", True),
    ("gzip;q=0, identity", False),
    ("identity, gzip;q=0.0", False),
    ("*;q=0", False),
    ("br, *", True),
    ("GZIP;Q=0.5", True),
])
@pytest.mark.gen_test
async def test_gzip_only_when_accept_encoding_accepts_it(app, http_client, base_url, accept_encoding, gzipped):
    response = await _raw(http_client, base_url, "/", headers={"Accept-Encoding": accept_encoding})
    assert response.code == 200
    assert (response.headers.get("Content-Encoding") == "gzip") is gzipped


@pytest.mark.parametrize("method, path, allow", [
    ("POST", "/", "GET, HEAD"),
    ("PUT", "/cart/add", "GET, HEAD, POST"),
    ("DELETE", "/cart", "GET, HEAD"),
    ("PATCH", "/login", "GET, HEAD, POST"),
    ("OPTIONS", "/product/stoneware-mug", "GET, HEAD"),
    ("DELETE", "/logout", "GET, HEAD, POST"),
    ("PUT", CSS, "GET, HEAD"),
])
@pytest.mark.gen_test
async def test_another_method_is_405_with_allow_not_a_403(app, http_client, base_url, method, path, allow):
    # No XSRF token: the method is refused before the form would be.
    response = await _raw(http_client, base_url, path, method=method,
                          body=b"" if method in ("POST", "PUT", "PATCH") else None)
    assert response.code == 405, (method, path, response.code)
    assert response.headers["Allow"] == allow


@pytest.mark.gen_test
async def test_an_unknown_path_is_404_whatever_the_method(app, http_client, base_url):
    for method in ("GET", "PUT", "DELETE"):
        response = await _raw(http_client, base_url, "/no-such-page", method=method,
                              body=b"" if method == "PUT" else None)
        assert response.code == 404, (method, response.code)


@pytest.mark.gen_test
async def test_a_post_without_a_token_is_still_refused_as_expired(client):
    response = await client.post("/cart/add", {"product_id": "stoneware-mug"}, xsrf=False)
    assert response.code == 403
