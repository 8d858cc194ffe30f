"""管理 in a real browser: the administrator creates a township and a unit, gives a new official
the head post by succession, and opens an account for them."""
from __future__ import annotations

from playwright.sync_api import expect

from .test_inbox import sign_in


def test_an_administrator_builds_a_township_and_appoints_its_head(page, server, shoot):
    sign_in(page, server, "admin")
    page.goto(f"{server}/admin/organization")
    expect(page.get_by_role("heading", name="区域与单位", exact=True)).to_be_visible()
    shoot(page, "tree")

    region_form = page.locator('form[data-form="region-new"]')
    region_form.get_by_label("区域名称").fill("南岭县")  # taken: refused at the field
    region_form.get_by_label("层级").select_option("township")
    region_form.get_by_role("button", name="新建区域").click()
    region_form = page.locator('form[data-form="region-new"]')
    expect(region_form.locator('[data-error-for="name"]')).to_contain_text("已存在")
    expect(region_form.locator('[data-error-for="parent_id"]')).to_contain_text("乡镇必须选择")
    shoot(page, "region-refused")
    region_form.get_by_label("区域名称").fill("白沙镇")
    region_form.get_by_label("上级区域").select_option(label="　南岭县（县（区））")
    region_form.get_by_role("button", name="新建区域").click()
    expect(page.locator(".flash.success")).to_contain_text("已新建区域：白沙镇")

    unit_form = page.locator('form[data-form="unit-new"]')
    unit_form.get_by_label("单位名称").fill("白沙镇人民政府")
    unit_form.get_by_label("类别").select_option("government")
    unit_form.get_by_label("所属区域").select_option(label="　　白沙镇")
    unit_form.get_by_role("button", name="新建单位").click()
    expect(page.locator(".flash.success")).to_contain_text("已新建单位：白沙镇人民政府")
    expect(page.locator("[data-region-id] >> text=白沙镇人民政府")).to_be_visible()

    page.goto(f"{server}/admin/officials")
    official_form = page.locator('form[data-form="official-new"]')
    official_form.get_by_label("姓名").fill("何镇长")
    official_form.get_by_label("中共党员").check()
    official_form.get_by_role("button", name="新建人员").click()
    expect(page.get_by_role("heading", name="何镇长")).to_be_visible()

    post_form = page.locator('form[data-form="post-new"]')
    post_form.locator("select[name=unit_id]").select_option(label="白沙镇人民政府")
    post_form.get_by_label("职务名称").fill("镇长")
    post_form.get_by_label("职务类别").select_option("government")
    post_form.get_by_label("单位主要负责人").check()
    post_form.get_by_role("button", name="新增职务").click()
    expect(page.locator(".flash.success")).to_contain_text("已任职：镇长")
    expect(page.locator("table.org-posts")).to_contain_text("主要负责人")
    shoot(page, "official")

    page.get_by_role("link", name="开通账号").click()
    user_form = page.locator('form[data-form="user-new"]')
    expect(user_form.get_by_label("对应人员")).to_have_value(page.url.split("official_id=")[1].split("#")[0])
    user_form.get_by_label("用户名").fill("hezhen")
    user_form.get_by_label("显示名").fill("何镇长")
    user_form.get_by_label("初始密码").fill("baisha-2026")
    user_form.get_by_role("button", name="开通账号").click()
    expect(page.locator(".flash.success")).to_contain_text("已开通账号：hezhen")
    shoot(page, "user")

    page.goto(f"{server}/admin/organization")
    expect(page.locator("[data-region-id] [data-head=government]").filter(has_text="何镇长")).to_be_visible()
    shoot(page, "tree-after")
    assert page.js_errors == []
