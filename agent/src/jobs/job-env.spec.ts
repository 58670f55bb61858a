import { jobEnvironment, withoutCredentials } from './job-env';

describe("a job's environment", () => {
  const agentEnv = {
    PATH: '/usr/bin:/bin',
    HOME: '/var/lib/corral',
    LANG: 'C.UTF-8',
    LC_ALL: 'C.UTF-8',
    CORRAL_TOKEN: 'crl_enr_secret',
    CORRAL_SERVER: 'https://corral.example',
    AWS_SECRET_ACCESS_KEY: 'aws-secret',
    HTTPS_PROXY: 'http://agent:pr0xy-pass@proxy.corp:3128',
    http_proxy: 'http://proxy.corp:3128/',
    NO_PROXY: 'localhost,.corp',
    DEPLOY_REGION: 'eu-west-1',
  };

  it("takes only what the allow-list names from the agent's, and the proxy without its credentials", () => {
    expect(jobEnvironment(agentEnv, {})).toEqual({
      PATH: '/usr/bin:/bin',
      HOME: '/var/lib/corral',
      LANG: 'C.UTF-8',
      LC_ALL: 'C.UTF-8',
      HTTPS_PROXY: 'http://proxy.corp:3128',
      http_proxy: 'http://proxy.corp:3128/',
      NO_PROXY: 'localhost,.corp',
    });
  });

  it("passes what the host's policy names, and the proxy's credentials when it says so", () => {
    const env = jobEnvironment(agentEnv, { jobEnvironment: ['DEPLOY_REGION'], passProxyCredentials: true });
    expect(env.DEPLOY_REGION).toBe('eu-west-1');
    expect(env.HTTPS_PROXY).toBe('http://agent:pr0xy-pass@proxy.corp:3128');
    expect(env.AWS_SECRET_ACCESS_KEY).toBeUndefined();
  });

  it('leaves a proxy value that is not a URL as it is', () => {
    expect(withoutCredentials('proxy.corp:3128')).toBe('proxy.corp:3128');
    expect(withoutCredentials('socks5://u:p@proxy:1080')).toBe('socks5://proxy:1080');
  });
});
