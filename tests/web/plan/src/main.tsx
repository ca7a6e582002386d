// The test page's entry: the plan's BackupRestoreSection, unchanged, under
// React. `authServiceUrl` (a free variable in the plan's code) is a global the
// page sets to the reference server's origin.
import React from 'react'
import { createRoot } from 'react-dom/client'
import { BackupRestoreSection } from './components/settings/BackupRestoreSection'

createRoot(document.getElementById('root')!).render(<BackupRestoreSection />)
