import { databaseUnreachable } from './database-errors';

describe('telling a database that could not be reached from other failures', () => {
  it('knows connection failures: refused, ended by a restarting server, starting up, cut', () => {
    const failures = [
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }),
      Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }),
      { message: 'Query failed', driverError: { code: '57P03', message: 'the database system is starting up' } },
      new Error('Connection terminated unexpectedly'),
    ];
    for (const err of failures) expect(databaseUnreachable(err)).toBe(true);
  });

  it('leaves anything else alone', () => {
    for (const err of [new Error('boom'), Object.assign(new Error('syntax error'), { code: '42601' }), null, 'text', { driverError: { code: '23505' } }])
      expect(databaseUnreachable(err)).toBe(false);
  });
});
