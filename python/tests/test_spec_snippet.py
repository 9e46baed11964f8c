"""test_spec_snippet.py: the spec's ProgressTracker example, as the spec writes it.

The example's statements are awaited at the top level of a training
workflow; pasted into an async function (the only change a Python file
needs to run awaits), they run unchanged against the stack.
"""

import asyncio
import textwrap
import unittest

from .test_tracker import DB, STACK, doc_when, job

# The spec's example, line for line ("In training workflow" ... "Or mark as failed").
SNIPPET = '''
# In training workflow
progress = ProgressTracker(job_id=job_id, db_url=db_url)

# Start step
await progress.start('data_collection', {'symbol': 'BTC/USDT'})

# Update within step
await progress.update(
    step_percentage=50.0,
    iteration=30,
    total_iterations=50,
    best_score=1.85
)

# Complete
await progress.complete()
'''

ERROR_LINE = 'await progress.error("Optimization failed: ...")'


def workflow(body):
    """A file's text: the import, and body inside an async function."""
    return ("from trainprog import ProgressTracker\n\n"
            "async def training_workflow(job_id, db_url):\n" + textwrap.indent(body, "    "))


@unittest.skipUnless(STACK, "needs a stack: DATABASE_URL, TP_BASE_URL, TP_TOKEN")
class SpecSnippet(unittest.TestCase):

    def run_workflow(self, body, job_id):
        scope = {}
        exec(compile(workflow(body), "spec_snippet.py", "exec"), scope)
        asyncio.run(scope["training_workflow"](job_id, DB))

    def test_the_snippet_completes_a_job(self):
        job_id = job("spec-snippet")
        self.run_workflow(SNIPPET, job_id)
        doc = doc_when(job_id, lambda d: d["is_complete"])
        self.assertEqual((doc["status"], doc["percentage"], doc["best_score"]),
                         ("completed", 100, 1.85))

    def test_the_snippet_with_error_fails_a_job(self):
        job_id = job("spec-snippet-error")
        body = SNIPPET.replace("await progress.complete()", ERROR_LINE)
        self.run_workflow(body, job_id)
        doc = doc_when(job_id, lambda d: d["is_complete"])
        self.assertEqual((doc["status"], doc["error_message"], doc["percentage"]),
                         ("failed", "Optimization failed: ...", 12.5))
        self.assertEqual(doc["current_iteration"], 30)


if __name__ == "__main__":
    unittest.main()
