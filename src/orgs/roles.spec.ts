import { lowerRole, roleAtLeast } from './roles';

describe('roles', () => {
  it('orders viewer < operator < admin < owner', () => {
    expect(roleAtLeast('owner', 'admin')).toBe(true);
    expect(roleAtLeast('admin', 'admin')).toBe(true);
    expect(roleAtLeast('operator', 'admin')).toBe(false);
    expect(roleAtLeast('viewer', 'operator')).toBe(false);
  });

  it('takes the lower of two roles, so a key never outranks its creator', () => {
    expect(lowerRole('owner', 'operator')).toBe('operator');
    expect(lowerRole('viewer', 'admin')).toBe('viewer');
  });
});
