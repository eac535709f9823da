# email/violation (contract §8).
package email

import data.common
import data.tenancy

email_value := common.get(input, "email")

# The domain exists only for a string with exactly one `@` (possibly empty).
domain := parts[1] if {
	e = email_value
	is_string(e)
	parts = split(e, "@")
	count(parts) == 2
}

# Gate keys (§5.3): absent or false leaves everything allowed; any other value restricts.
allowed_domains_restricts if {
	x = data.allowed_domains
	x != false
}

domain_allowed if {
	d = domain
	some p in common.values(data.allowed_domains)
	common.glob_match(p, d)
}

allowed_addresses_restricts if {
	x = common.get(data.emails, "allowed_addresses")
	x != false
}

address_allowed if {
	e = email_value
	common.matches(e, common.get(data.emails, "allowed_addresses"))
}

# E1
mas_violation contains {"code": "email-domain-not-allowed", "msg": "email domain is not allowed"} if {
	allowed_domains_restricts
	not domain_allowed
}

# E2
mas_violation contains {"code": "email-domain-banned", "msg": "email domain is banned"} if {
	d = domain
	some p in common.values(data.banned_domains)
	common.glob_match(p, d)
}

# E3
mas_violation contains {"code": "email-not-allowed", "msg": "email is not allowed"} if {
	allowed_addresses_restricts
	not address_allowed
}

# E4
mas_violation contains {"code": "email-banned", "msg": "email is not allowed"} if {
	e = email_value
	common.matches(e, common.get(data.emails, "banned_addresses"))
}

# MAS's own rules, which register also applies (R10). register takes the tenant from the
# username, so it never sees the rule below, which reads `input.tenant`.
violation contains v if {
	some v in mas_violation
}

# Tenants (extensions.md §1): only when `input.tenant` names a tenant. An unknown tenant
# gives nothing.
violation contains v if {
	id = common.get(input, "tenant")
	_ = tenancy.tenant(id)
	e = email_value
	tenancy.email_domain_rejected(id, e)
	v = {"code": "tenant-email-domain-not-allowed", "msg": tenancy.email_domain_msg(id)}
}
