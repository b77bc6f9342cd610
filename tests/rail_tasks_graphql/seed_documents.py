"""Seed 001's GraphQL documents, verbatim, shared by the test modules."""

SEED_001_MUTATION = """
mutation GenerateReport($datasetId: String!) {
  generateReport(datasetId: $datasetId) {
    taskId
    status
  }
}
"""

SEED_001_QUERY = """
query TaskStatus($taskId: ID!) {
  task(id: $taskId) {
    id
    name
    status
    progress
    progressMessage
    result
    error
    createdAt
    startedAt
    completedAt
  }
}
"""
