package client_registration_test

import data.client_registration

# md(m): the input for client metadata m.
md(m) := {"client_metadata": m}

web := {"client_uri": "https://example.com/", "redirect_uris": ["https://example.com/callback"]}

bad_redirect(x) := {"msg": "invalid redirect_uri", "redirect_uri": x}

test_minimal_web_client if {
	count(client_registration.violation) == 0 with input as md(web)
}

test_redirect_on_subdomain_and_port_ignored if {
	count(client_registration.violation) == 0 with input as md({
		"client_uri": "https://example.com:8443/",
		"redirect_uris": ["https://app.example.com:9000/cb"],
	})
}

test_redirect_on_lookalike_domain if {
	v := client_registration.violation with input as md({
		"client_uri": "https://example.com/",
		"redirect_uris": ["https://notexample.com/cb"],
	})
	v == {bad_redirect("https://notexample.com/cb")}
}

test_no_input if {
	client_registration.violation == {{"msg": "missing client_uri"}, {"msg": "missing redirect_uris"}}
}

test_d2_bad_host_grammar_is_unparsable if {
	v := client_registration.violation with input as md({
		"client_uri": "https://good_host.com/",
		"redirect_uris": ["https://evil_host.org/cb"],
	})
	v == {{"msg": "invalid client_uri"}, bad_redirect("https://evil_host.org/cb")}
}

test_d2_never_matches_even_when_insecure_allowed if {
	v := client_registration.violation with input as md({
		"client_uri": "https://Good.com/",
		"redirect_uris": ["https://Good.com/callback"],
	})
		with data.client_registration.allow_insecure_uris as true
	v == {bad_redirect("https://Good.com/callback")}
}

test_d1_reads_the_input_client_uri if {
	v := client_registration.violation with input as md({
		"client_uri": "https://example.com/",
		"redirect_uris": ["https://evil.org/cb"],
		"tos_uri": "https://evil.org/",
	})
		with data.client_registration.allow_missing_client_uri as true
	v == {bad_redirect("https://evil.org/cb"), {"msg": "tos_uri not on the same host as the client_uri"}}
}

test_d1_missing_client_uri_allowed if {
	count(client_registration.violation) == 0 with input as md({
		"redirect_uris": ["https://anywhere.org/cb"],
		"tos_uri": "https://other.org/tos",
	})
		with data.client_registration.allow_missing_client_uri as true
}

test_flags_are_truthy_values if {
	count(client_registration.violation) == 0 with input as md({
		"client_uri": "http://example.com/",
		"redirect_uris": ["http://example.com/cb"],
	})
		with data.client_registration.allow_insecure_uris as 0
}

test_insecure_client_uris if {
	every uri in ["http://example.com/", "https://localhost/", "https://127.0.0.1/", "https://0.0.0.0/", "https://[::1]/", "", null, false] {
		{"msg": "invalid client_uri"} in client_registration.violation with input as md({"client_uri": uri, "grant_types": []})
	}
}

test_url_grammar_quirks if {
	every uri in ["https://example.com?q=v", "https://example.com/cb?x#f", "https://127_0_0_1/", "https:/x"] {
		count(client_registration.violation) == 0 with input as md({"client_uri": uri, "grant_types": []})
			with data.client_registration.allow_host_mismatch as true
	}
}

test_native_redirects if {
	native := {"application_type": "native", "client_uri": "https://example.com/"}
	count(client_registration.violation) == 0 with input as md(object.union(native, {"redirect_uris": ["com.example.app:/cb", "http://localhost:1234/cb", "http://[::1]/"]}))
	v := client_registration.violation with input as md(object.union(native, {"redirect_uris": ["com.example.app://cb", "org.example.app:/cb", "http://0.0.0.0/"]}))
	v == {bad_redirect("com.example.app://cb"), bad_redirect("org.example.app:/cb"), bad_redirect("http://0.0.0.0/")}
}

test_grant_types if {
	count(client_registration.violation) == 0 with input as md({"client_uri": "https://example.com/", "grant_types": null})
	client_registration.violation == {{"msg": "missing redirect_uris"}} with input as md({"client_uri": "https://example.com/", "grant_types": false})
	v := client_registration.violation with input as md({
		"client_uri": "https://example.com/",
		"grant_types": {"a": "client_credentials"},
		"token_endpoint_auth_method": "none",
	})
	v == {{"msg": "client_credentials grant_type requires some form of client authentication"}}
}

test_redirect_uris_shapes if {
	client_registration.violation == {{"msg": "invalid redirect_uris: it must be an array"}} with input as md({"client_uri": "https://example.com/", "redirect_uris": null})
	v := client_registration.violation with input as md({"client_uri": "https://example.com/", "redirect_uris": ""})
	v == {{"msg": "invalid redirect_uris: it must be an array"}, {"msg": "invalid redirect_uris: it must have at least one redirect_uri"}}
	w := client_registration.violation with input as md({"client_uri": "https://example.com/", "redirect_uris": {"a": "https://evil.org/cb"}})
	w == {{"msg": "invalid redirect_uris: it must be an array"}, bad_redirect("https://evil.org/cb")}
}

test_one_violation_per_distinct_redirect if {
	v := client_registration.violation with input as md({
		"client_uri": "https://example.com/",
		"redirect_uris": ["https://evil.org/a", "https://evil.org/a", "https://example.com/ok"],
	})
	v == {bad_redirect("https://evil.org/a")}
}
