import { useEffect } from 'react';
import { BrowserRouter, Navigate, Route, Routes, useLocation } from 'react-router';
import { Layout } from './components/layout';
import { AgentDetailPage } from './pages/agent-detail-page';
import { AgentsPage } from './pages/agents-page';
import { ApiKeysPage } from './pages/api-keys-page';
import { AuditPage } from './pages/audit-page';
import { DashboardPage } from './pages/dashboard-page';
import { DeploymentPage } from './pages/deployment-page';
import { AcceptInvitationPage, LoginPage, SignupPage } from './pages/auth-pages';
import { EnrollmentTokensPage } from './pages/enrollment-tokens-page';
import { EnvironmentsPage } from './pages/environments-page';
import { LifecyclesPage } from './pages/lifecycles-page';
import { MembersPage } from './pages/members-page';
import { NodesPage } from './pages/nodes-page';
import { PlatformPage } from './pages/platform-page';
import { ProcessEditorPage } from './pages/process-editor-page';
import { ProjectPage, ProjectsPage } from './pages/projects-page';
import { ProjectVariablesPage } from './pages/project-variables-page';
import { RunScriptPage } from './pages/run-script-page';
import { TaskDetailPage } from './pages/task-detail-page';
import { TasksPage } from './pages/tasks-page';
import { VariableSetPage, VariableSetsPage } from './pages/variable-sets-page';
import { SessionProvider, useSession } from './session/session-context';

const TITLES: [RegExp, string][] = [
  [/^\/agents\/.+/, 'Agent'],
  [/^\/agents/, 'Agents'],
  [/^\/environments/, 'Environments'],
  [/^\/lifecycles/, 'Lifecycles'],
  [/^\/variable-sets\/.+/, 'Variable set'],
  [/^\/variable-sets/, 'Variable sets'],
  [/^\/projects\/.+\/process/, 'Deployment process'],
  [/^\/projects\/.+\/variables/, 'Project variables'],
  [/^\/projects\/.+/, 'Project'],
  [/^\/projects/, 'Projects'],
  [/^\/deployments\/.+/, 'Deployment'],
  [/^\/dashboard/, 'Dashboard'],
  [/^\/tasks\/.+/, 'Task'],
  [/^\/tasks/, 'Tasks'],
  [/^\/run/, 'Run a script'],
  [/^\/enrollment-tokens/, 'Enrollment tokens'],
  [/^\/nodes/, 'Nodes'],
  [/^\/platform/, 'Platform'],
  [/^\/audit/, 'Audit log'],
  [/^\/members/, 'Members'],
  [/^\/api-keys/, 'API keys'],
  [/^\/signup/, 'Sign up'],
  [/^\/accept-invitation/, 'Accept an invitation'],
  [/^\/login/, 'Log in'],
];

function DocumentTitle() {
  const { pathname } = useLocation();
  useEffect(() => {
    const title = TITLES.find(([pattern]) => pattern.test(pathname))?.[1];
    document.title = title ? `${title} · Corral` : 'Corral';
  }, [pathname]);
  return null;
}

function SignedInRoutes() {
  return (
    <Routes>
      <Route element={<Layout />}>
        <Route index element={<DashboardPage />} />
        <Route path="projects" element={<ProjectsPage />} />
        <Route path="projects/:id" element={<ProjectPage />} />
        <Route path="projects/:id/process" element={<ProcessEditorPage />} />
        <Route path="projects/:id/variables" element={<ProjectVariablesPage />} />
        <Route path="deployments/:id" element={<DeploymentPage />} />
        <Route path="agents" element={<AgentsPage />} />
        <Route path="agents/:id" element={<AgentDetailPage />} />
        <Route path="environments" element={<EnvironmentsPage />} />
        <Route path="lifecycles" element={<LifecyclesPage />} />
        <Route path="variable-sets" element={<VariableSetsPage />} />
        <Route path="variable-sets/:id" element={<VariableSetPage />} />
        <Route path="tasks" element={<TasksPage />} />
        <Route path="tasks/:id" element={<TaskDetailPage />} />
        <Route path="run" element={<RunScriptPage />} />
        <Route path="enrollment-tokens" element={<EnrollmentTokensPage />} />
        <Route path="nodes" element={<NodesPage />} />
        <Route path="platform" element={<PlatformPage />} />
        <Route path="audit" element={<AuditPage />} />
        <Route path="members" element={<MembersPage />} />
        <Route path="api-keys" element={<ApiKeysPage />} />
        <Route path="login" element={<AfterLogin />} />
        <Route path="signup" element={<Navigate to="/agents" replace />} />
        <Route path="*" element={<NotFound />} />
      </Route>
      {/* Someone signed in may join another organisation: accepting switches to it. */}
      <Route path="accept-invitation" element={<AcceptInvitationPage />} />
    </Routes>
  );
}

/** Back to where the user was sent to log in from. */
function AfterLogin() {
  const from = (useLocation().state as { from?: string } | null)?.from;
  return <Navigate to={from && from.startsWith('/') && !from.startsWith('/login') ? from : '/agents'} replace />;
}

function SignedOutRoutes() {
  const location = useLocation();
  return (
    <Routes>
      <Route path="signup" element={<SignupPage />} />
      <Route path="login" element={<LoginPage />} />
      <Route path="accept-invitation" element={<AcceptInvitationPage />} />
      {/* Anything else asks to log in first, then returns there. */}
      <Route path="*" element={<Navigate to="/login" replace state={{ from: location.pathname + location.search }} />} />
    </Routes>
  );
}

function NotFound() {
  return (
    <>
      <h1>Page not found</h1>
      <p>There is nothing at this address. Use the navigation to find your way.</p>
    </>
  );
}

function Routed() {
  const { me } = useSession();
  if (me === undefined)
    return (
      <p className="boot muted" role="status">
        Loading Corral…
      </p>
    );
  return me ? <SignedInRoutes /> : <SignedOutRoutes />;
}

export function App() {
  return (
    <BrowserRouter>
      <DocumentTitle />
      <SessionProvider>
        <Routed />
      </SessionProvider>
    </BrowserRouter>
  );
}
