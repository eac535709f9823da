# Tenants (extensions.md §1): which tenant owns a username, and the per-tenant settings.
#
# The package is not called `tenants`: `data.tenants` is the policy data (CONSTRUCTS.md §8).
# The Rust loader validates `data.tenants` before the Rego sees it (prefix/suffix characters,
# at most one default tenant, no equal-length ambiguous matches, glob syntax, status and
# registration values), so the rules here may assume valid data. With no `tenants` key,
# nothing here is defined and every entrypoint behaves exactly like MAS.
package tenancy

import data.common

by_id := ids if {
	ids = common.get(data.tenants, "by_id")
	is_object(ids)
}

# require_tenant: `require_tenant: true`; anything else (absent included) is false.
require_tenant if common.get(data.tenants, "require_tenant") == true

# The settings of tenant `id`, with their defaults.
tenant(id) := by_id[id] if is_string(id)

# has_text(o, k): o holds a string at k. Negated only with bound arguments (CONSTRUCTS.md §2).
has_text(o, k) if is_string(common.get(o, k))

text_or_empty(t, k) := common.get(t, k) if has_text(t, k)

text_or_empty(t, k) := "" if not has_text(t, k)

prefix(t) := text_or_empty(t, "localpart_prefix")

suffix(t) := text_or_empty(t, "localpart_suffix")

# The length a match of t is ranked by (prefixes and suffixes are ASCII).
match_length(t) := count(prefix(t)) + count(suffix(t))

# owns(t, u): u (a string) starts with t's prefix, ends with its suffix, and keeps a
# non-empty middle. The default tenant (both empty) owns every non-empty string.
owns(t, u) if {
	p = prefix(t)
	s = suffix(t)
	startswith(u, p)
	endswith(u, s)
	count(u) > count(p) + count(s)
}

# resolve(u): the id of the tenant owning u, the longest prefix+suffix winning (the loader
# refuses ties); undefined when u is not a string or no tenant owns it.
resolve(u) := id if {
	is_string(u)
	ids = by_id
	lengths = [n | some t in ids; owns(t, u); n = match_length(t)]
	count(lengths) > 0
	best = max(lengths)
	some id, t in ids
	owns(t, u)
	match_length(t) == best
}

suspended(id) if common.get(tenant(id), "status") == "suspended"

registration_closed(id) if common.get(tenant(id), "registration") == "closed"

# Set lists: present as an array. `[]` is set and allows nothing.
email_domains(id) := l if {
	l = common.get(tenant(id), "email_domains")
	is_array(l)
}

allowed_clients(id) := l if {
	l = common.get(tenant(id), "allowed_clients")
	is_array(l)
}

# The domain of an email exists only for a string with exactly one `@` (possibly empty).
email_domain(e) := parts[1] if {
	is_string(e)
	parts = split(e, "@")
	count(parts) == 2
}

email_domain_listed(id, e) if {
	d = email_domain(e)
	some p in email_domains(id)
	common.glob_match(p, d)
}

# email_domain_rejected(id, e): tenant id restricts email domains, the email e (bound by the
# caller) is present (not false), and its domain matches none of the globs. An email without
# a domain matches no glob.
email_domain_rejected(id, e) if {
	_ = email_domains(id)
	e != false
	not email_domain_listed(id, e)
}

email_domain_msg(id) := concat("", ["email domain is not allowed for tenant ", id])

suspended_msg(id) := concat("", ["tenant ", id, " is suspended"])

suspended_violation(id) := {"code": "tenant-suspended", "msg": suspended_msg(id)}

# The client of an authorization_grant input, as an object ({} when absent or not an
# object), so that a grant without a client is checked like one with no listed id.
client_of(inp) := common.get(inp, "client") if common.has_object(inp, "client")

client_of(inp) := {} if not common.has_object(inp, "client")

# client_listed(id, client): client.id or client.client_id equals an allowed_clients entry.
client_listed(id, client) if {
	x = common.get(client, "id")
	some c in allowed_clients(id)
	c == x
}

client_listed(id, client) if {
	x = common.get(client, "client_id")
	some c in allowed_clients(id)
	c == x
}

# client_label(client): client_id if it is a string, else id if it is a string, else "unknown".
client_label(client) := common.get(client, "client_id") if has_text(client, "client_id")

client_label(client) := common.get(client, "id") if {
	not has_text(client, "client_id")
	has_text(client, "id")
}

client_label(client) := "unknown" if {
	not has_text(client, "client_id")
	not has_text(client, "id")
}

# client_rejected(id, client): tenant id restricts clients and client (bound, an object) is
# not listed.
client_rejected(id, client) if {
	_ = allowed_clients(id)
	not client_listed(id, client)
}

client_violation(id, client) := {
	"code": "client-not-allowed",
	"msg": concat("", ["client ", client_label(client), " is not allowed for tenant ", id]),
}
