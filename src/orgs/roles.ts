export const ROLES = ['viewer', 'operator', 'admin', 'owner'] as const;
export type Role = (typeof ROLES)[number];

/** True when `role` carries at least the rights of `least`. */
export function roleAtLeast(role: Role, least: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(least);
}

/** Every role that carries at least the rights of `least`. */
export function rolesAtLeast(least: Role): Role[] {
  return ROLES.filter((role) => roleAtLeast(role, least));
}

export function lowerRole(a: Role, b: Role): Role {
  return ROLES.indexOf(a) <= ROLES.indexOf(b) ? a : b;
}
