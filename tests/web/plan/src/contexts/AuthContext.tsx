// Stand-in for the app's AuthContext: the bearer token comes from the test
// page (window.__svToken), as the app's auth service would hand it out.
export function useAuth (): { getCurrentToken: () => Promise<string> } {
  return { getCurrentToken: async () => (window as any).__svToken }
}
