import { nextVersion } from './release-version';

describe('nextVersion', () => {
  it('starts at 1.0.0 and bumps the patch of the highest plain version', () => {
    expect(nextVersion([])).toBe('1.0.0');
    expect(nextVersion(['1.0.0'])).toBe('1.0.1');
    expect(nextVersion(['1.0.9', '1.0.10', '1.0.2'])).toBe('1.0.11');
    expect(nextVersion(['2.3.4', '10.0.0', '9.9.9'])).toBe('10.0.1');
  });

  it('ignores versions that are not plain numbers, and never repeats one', () => {
    expect(nextVersion(['1.4.0-beta', 'hotfix'])).toBe('1.0.0');
    expect(nextVersion(['1.4.0-beta', '1.0.0'])).toBe('1.0.1');
  });
});
