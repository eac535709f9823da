# Helpers of client_registration/violation (contract §9.3), with D1 and D2.
#
# They live outside package client_registration on purpose: data.client_registration is also
# the policy data's flag object, so every rule of that package shares a path with the data.
# Keeping that package down to `violation` leaves the flag object free to hold any other key.
package client_metadata

import data.common

md := common.get(input, "client_metadata")

client_uri := common.get(md, "client_uri")

redirect_uris := common.get(md, "redirect_uris")

# The three flags are read by full path (reading data.client_registration as a whole would
# evaluate package client_registration, which depends on these rules).
insecure_uris_allowed if {
	x = data.client_registration.allow_insecure_uris
	x != false
}

host_mismatch_allowed if {
	x = data.client_registration.allow_host_mismatch
	x != false
}

missing_client_uri_allowed if {
	x = data.client_registration.allow_missing_client_uri
	x != false
}

client_uri_truthy if {
	x = client_uri
	x != false
}

parsed_client_uri := parsed_uris[client_uri]

# The input's URIs that the checks parse: client_uri, the informational URIs and the
# redirect URIs (parse_urls keeps the strings; nothing else parses).
input_uris := array.concat(
	[x | is_object(md); some key in ["client_uri", "tos_uri", "policy_uri", "logo_uri"]; x = md[key]],
	[x | some x in common.values(redirect_uris)],
)

# Each input URI parsed once per evaluation, all in one regex call: a rule's value is kept for
# the evaluation, a function's result is not, and every URI is checked by several functions.
# Every URI a check parses is an input URI, so the checks read parsed_uris[x] directly: in
# regorus's VM a function call costs more than the lookup (CONSTRUCTS.md 28). parsed_uris[x]
# is [x, scheme, authority, host, path]: the checks read u[1], u[2] and u[3].
parsed_uris := common.parse_urls(input_uris)

loopback_hosts := {"localhost", "127.0.0.1", "[::1]"}

insecure_hosts := {"localhost", "127.0.0.1", "0.0.0.0", "[::1]"}

# secure(x): x is bound.
secure(x) if {
	u = parsed_uris[x]
	u[1] == "https" # the scheme
	not insecure_hosts[u[3]] # the host
}

secure(x) if insecure_uris_allowed

# host_ok(x): x is bound. The host of x is the client_uri's host or a subdomain of it
# (label-wise): the labels of a name end with those of h exactly when it is h or ends with
# "." + h. Two string tests, not a split and reversal of both names, and in host_ok's own
# bodies rather than a helper's, since each call costs the VM more than a test
# (CONSTRUCTS.md 28 and 29).
host_ok(x) if {
	u = parsed_uris[x]
	u[3] == client_host
}

host_ok(x) if {
	u = parsed_uris[x]
	endswith(u[3], client_subdomain_suffix)
}

host_ok(x) if host_check_waived

# The host checks hold for every URI: the flag, or D1 (the missing client_uri is the one in
# the input). A rule, computed once per evaluation, where host_ok had a body for each: every
# body of a function runs on each call (CONSTRUCTS.md 29).
host_check_waived if host_mismatch_allowed

host_check_waived if {
	missing_client_uri_allowed
	not client_uri_truthy
}

# The client_uri's host, and the suffix of its subdomains.
client_host := parsed_client_uri[3]

client_subdomain_suffix := concat("", [".", client_host])

native_ok(x) if {
	u = parsed_uris[x]
	u[1] == "http"
	loopback_hosts[u[3]]
}

native_ok(x) if {
	u = parsed_uris[x]
	u[1] != "http"
	u[1] != "https"
	u[2] == "" # the authority
	common.rdns_match(client_host, u[1])
}

native_client if common.get(md, "application_type") == "native"

redirect_ok(x) if {
	secure(x)
	host_ok(x)
}

redirect_ok(x) if {
	native_client
	native_ok(x)
}

grant_types := common.get(md, "grant_types")

grant_types_truthy if {
	x = grant_types
	x != false
}

uses(g) if {
	some item in common.values(grant_types)
	item == g
}

uses_authorization_code if uses("authorization_code")

uses_authorization_code if not grant_types_truthy

needs_redirects if uses_authorization_code

needs_redirects if uses("implicit")

redirect_uris_truthy if {
	x = redirect_uris
	x != false
}

# The informational URIs the input has: key -> value, read once for the two checks of each.
info_values := {key: x |
	some key, _ in info_uris
	x = common.get(md, key)
}

# The informational URIs: key -> [insecure message, other-host message].
info_uris := {
	"tos_uri": ["invalid tos_uri", "tos_uri not on the same host as the client_uri"],
	"policy_uri": ["invalid policy_uri", "policy_uri not on the same host as the client_uri"],
	"logo_uri": ["invalid logo_uri", "logo_uri not on the same host as the client_uri"],
}
