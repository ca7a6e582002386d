// packages/web/src/components/settings/BackupRestoreSection.tsx (NEW)

import React, { useState } from 'react'
import { useWorkspace } from '../../contexts/WorkspaceContext'
import { useAuth } from '../../contexts/AuthContext'

export const BackupRestoreSection: React.FC = () => {
  const { currentWorkspaceId } = useWorkspace()
  const { getCurrentToken } = useAuth()
  const [exporting, setExporting] = useState(false)
  const [importing, setImporting] = useState(false)

  const handleExport = async () => {
    setExporting(true)

    try {
      const token = await getCurrentToken()
      const response = await fetch(
        `${authServiceUrl}/workspaces/${currentWorkspaceId}/export`,
        {
          method: 'POST',
          headers: {
            Authorization: `Bearer ${token}`,
          },
        }
      )

      const data = await response.json()

      if (data.downloadUrl) {
        // Trigger download
        window.open(data.downloadUrl, '_blank')
      }
    } catch (error) {
      console.error('Export failed:', error)
      alert('Export failed. Please try again.')
    } finally {
      setExporting(false)
    }
  }

  const handleImport = async (file: File) => {
    setImporting(true)

    try {
      const token = await getCurrentToken()
      const formData = new FormData()
      formData.append('backup', file)

      const response = await fetch(
        `${authServiceUrl}/workspaces/${currentWorkspaceId}/import`,
        {
          method: 'POST',
          headers: {
            Authorization: `Bearer ${token}`,
          },
          body: formData,
        }
      )

      const data = await response.json()

      if (data.success) {
        alert('Workspace restored successfully. Reloading...')
        window.location.reload()
      } else {
        throw new Error(data.error)
      }
    } catch (error) {
      console.error('Import failed:', error)
      alert('Import failed. Please try again.')
    } finally {
      setImporting(false)
    }
  }

  return (
    <div className="space-y-6">
      <div>
        <h3 className="text-lg font-medium text-gray-900">Backup & Restore</h3>
        <p className="mt-1 text-sm text-gray-500">
          Download a backup of your workspace or restore from a previous backup.
        </p>
      </div>

      {/* Export */}
      <div className="border-t border-gray-200 pt-6">
        <div className="flex items-center justify-between">
          <div>
            <h4 className="text-sm font-medium text-gray-900">Download Backup</h4>
            <p className="mt-1 text-sm text-gray-500">
              Export your workspace data as a downloadable file.
            </p>
          </div>
          <button
            onClick={handleExport}
            disabled={exporting}
            className="px-4 py-2 bg-blue-600 text-white rounded-md hover:bg-blue-700 disabled:opacity-50"
          >
            {exporting ? 'Exporting...' : 'Download Backup'}
          </button>
        </div>
      </div>

      {/* Import */}
      <div className="border-t border-gray-200 pt-6">
        <div>
          <h4 className="text-sm font-medium text-gray-900">Restore from Backup</h4>
          <p className="mt-1 text-sm text-gray-500">
            Replace your current workspace data with a previous backup.
          </p>
          <p className="mt-1 text-sm text-red-600">
            Warning: This will replace all current data.
          </p>

          <label className="mt-4 inline-block">
            <input
              type="file"
              accept=".db"
              onChange={e => {
                const file = e.target.files?.[0]
                if (file) {
                  const confirmed = confirm(
                    'Are you sure you want to restore from this backup? This will replace all current data.'
                  )
                  if (confirmed) {
                    handleImport(file)
                  }
                }
              }}
              disabled={importing}
              className="block w-full text-sm text-gray-500 file:mr-4 file:py-2 file:px-4 file:rounded-md file:border-0 file:text-sm file:font-semibold file:bg-gray-100 file:text-gray-700 hover:file:bg-gray-200"
            />
          </label>
        </div>
      </div>
    </div>
  )
}
