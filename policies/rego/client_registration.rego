# client_registration/violation (contract §9), with D1 and D2.
#
# Only `violation` is defined here; the helpers are in client_metadata.rego (see there why).
package client_registration

import data.client_metadata as meta
import data.common

# C1
violation contains {"msg": "missing client_uri"} if {
	not data.client_metadata.missing_client_uri_allowed
	not data.client_metadata.client_uri_truthy
}

# C2
violation contains {"msg": "invalid client_uri"} if {
	x = data.client_metadata.client_uri
	not meta.secure(x)
}

# C3, C5, C7
violation contains v if {
	some key, x in data.client_metadata.info_values
	not meta.secure(x)
	v = {"msg": data.client_metadata.info_uris[key][0]}
}

# C4, C6, C8 (a missing or unparsable client_uri fails them unless host_ok case 1 or 2 holds)
violation contains v if {
	some key, x in data.client_metadata.info_values
	not meta.host_ok(x)
	v = {"msg": data.client_metadata.info_uris[key][1]}
}

# C9
violation contains {"msg": "client_credentials grant_type requires some form of client authentication"} if {
	meta.uses("client_credentials")
	common.get(data.client_metadata.md, "token_endpoint_auth_method") == "none"
}

# C10
violation contains {"msg": "missing redirect_uris"} if {
	data.client_metadata.needs_redirects
	not data.client_metadata.redirect_uris_truthy
}

# C11
violation contains {"msg": "invalid redirect_uris: it must be an array"} if {
	r = data.client_metadata.redirect_uris
	not is_array(r)
}

# C12
violation contains {"msg": "invalid redirect_uris: it must have at least one redirect_uri"} if {
	data.client_metadata.needs_redirects
	common.count_of(data.client_metadata.redirect_uris) == 0
}

# C13: one per distinct failing redirect URI, whether or not redirects are needed.
violation contains v if {
	some x in common.values(data.client_metadata.redirect_uris)
	not meta.redirect_ok(x)
	v = {"msg": "invalid redirect_uri", "redirect_uri": x}
}
