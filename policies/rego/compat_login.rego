# compat_login/violation (contract §11).
package compat_login

import data.common
import data.tenancy

sso if common.get(common.get(input, "login"), "type") == "m.login.sso"

session_replaced if {
	x = common.get(input, "session_replaced")
	x != false
}

# L1
violation contains v if {
	v = data.common.requester_violation
}

# L2
violation contains {
	"code": "too-many-sessions",
	"msg": "user has too many active sessions (soft limit)",
	"need_to_remove": n,
} if {
	sso
	not session_replaced
	n = common.excess("soft_limit")
}

# L3
violation contains {
	"code": "too-many-sessions",
	"msg": "user has too many active sessions (hard limit)",
	"need_to_remove": n,
} if {
	not sso
	not session_replaced
	n = common.excess("hard_limit")
}

# Tenants (extensions.md §1): the user's tenant is suspended.
violation contains v if {
	u = common.get(common.get(input, "user"), "username")
	id = tenancy.resolve(u)
	tenancy.suspended(id)
	v = tenancy.suspended_violation(id)
}
