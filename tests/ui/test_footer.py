"""The footer recomposes once for the key bindings' changes that come together
(Textual's recomposed after each one: five times as the app started)."""

from textual.widgets import Footer

from loom.ui.app import LoomApp
from loom.ui.footer import LoomFooter


async def test_changes_together_recompose_the_footer_once(session, demo_backend, monkeypatch):
    session.add_node(None, "A prompt", "prompt")
    app = LoomApp(session, backend=demo_backend)
    async with app.run_test(size=(120, 30)) as pilot:
        footer = app.query_one(LoomFooter)
        # the start's own changes first: their recompose may still be queued after one pause
        settled = 0
        for _ in range(50):
            await pilot.pause()
            settled = settled + 1 if not footer._queued else 0
            if settled == 2:
                break
        count = 0
        recompose = Footer.recompose

        async def counted(self):
            nonlocal count
            count += 1
            await recompose(self)

        monkeypatch.setattr(Footer, "recompose", counted)
        for _ in range(4):
            app.screen.refresh_bindings()
        await pilot.pause()
        await pilot.pause()
        assert count == 1
        assert footer.query("FooterKey")  # the keys are shown
        app.screen.refresh_bindings()  # a change after it: once more
        await pilot.pause()
        await pilot.pause()
        assert count == 2
