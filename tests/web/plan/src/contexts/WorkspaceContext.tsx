// Stand-in for the app's WorkspaceContext (the plan's component imports it):
// the current workspace comes from the test page (window.__svWorkspace).
export function useWorkspace (): { currentWorkspaceId: string } {
  return { currentWorkspaceId: (window as any).__svWorkspace }
}
