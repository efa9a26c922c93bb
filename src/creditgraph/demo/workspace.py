"""Demo stage 10: the web workspace, ready to open.

A demo user with a fresh random password is created (or given a new one when the demo runs
again on the same home) and the command that serves the workspace is printed with the address
and the credentials. Only the demo does this: a real home gets its users from
``creditgraph users create``, and the password is printed here because a demo home holds only
synthetic people.
"""

from __future__ import annotations

import secrets

from creditgraph.demo.context import DemoContext

DEMO_USER = "demo-admin"
URL = "http://127.0.0.1:8000/login"


def workspace_stage(ctx: DemoContext) -> None:
    from creditgraph.store.db import migrated_engine
    from creditgraph.web.users import UserStore

    ctx.console.rule("10. Web workspace 工作台")
    password = secrets.token_urlsafe(12)
    with migrated_engine(ctx.settings.database_url) as db:
        users = UserStore(db)
        if users.by_name(DEMO_USER) is None:
            users.create(DEMO_USER, "admin", password, "demo")
        else:
            users.reset(DEMO_USER, password, "demo")
    home = ctx.settings.home_dir
    ctx.console.print(
        "serve the workspace beside the API 启动工作台与 API:\n"
        f"  CREDITGRAPH_HOME={home} .venv/bin/creditgraph serve --port 8000\n"
        f"open 打开 {URL}\n"
        f"demo user 演示用户 {DEMO_USER} (admin 管理员)  password 密码 {password}\n"
        "(demo home only: a real home's users come from `creditgraph users create` "
        "仅限演示数据；正式环境用户由 `creditgraph users create` 创建)",
        markup=False,
        highlight=False,
        soft_wrap=True,  # the command stays on one line, to be copied as it is
    )
    ctx.results["workspace"] = {"url": URL, "user": DEMO_USER}
