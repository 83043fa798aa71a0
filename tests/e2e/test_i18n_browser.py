"""The app in Simplified Chinese in a real browser: a shared ``?lang=zh`` link, the sidebar's language switch, the
browser's preferred language on a first visit, CJK text drawn with a real font, and a screenshot of every page in
Chinese (tests/screenshots/zh_*.png: look at them for clipped labels and English left over)."""
import re

import pytest

from app.menu import PAGE_TABLE

pytestmark = pytest.mark.e2e

CJK = re.compile(r"[\u4e00-\u9fff]")


def cjk_font_draws(page) -> bool:
    """Whether the browser has a font for Chinese: with none, every CJK character is the same blank box, as wide
    as a character no font has (a private-use one)."""
    widths = page.evaluate("""() => {
        const c = document.createElement('canvas').getContext('2d');
        c.font = '20px sans-serif';
        return [c.measureText('卷积池化').width, c.measureText('\\uE000\\uE001\\uE002\\uE003').width,
                c.measureText('一').width, c.measureText('图').width];
    }""")
    return widths[0] != widths[1] and widths[0] > 0


def test_a_shared_link_opens_the_app_in_chinese_and_keeps_it(open_page, shot):
    page = open_page("/?lang=zh")
    page.get_by_role("heading", name="SmartFlow CNN 实验室").wait_for()
    assert cjk_font_draws(page), "no CJK font in the browser: apt-get install fonts-wqy-microhei"
    nav = page.get_by_test_id("stSidebarNav")
    nav.get_by_text("一维卷积", exact=True).wait_for()
    nav.get_by_text("前向传播", exact=True).wait_for()
    shot("zh_home_link")
    page.get_by_test_id("stMain").get_by_role("link", name="图像上的二维卷积").click()
    page.get_by_role("heading", name="图像上的二维卷积").wait_for()
    page.wait_for_function("() => location.search.includes('lang=zh')")  # the lesson's link carries it
    nav.get_by_text("步幅、池化与展平", exact=True).click()
    page.get_by_role("heading", name="步幅、池化与展平").wait_for()  # still Chinese after a page change
    # the charts' titles and axis titles are Chinese, drawn by Plotly in the browser
    page.wait_for_function("""() => [...document.querySelectorAll('[data-testid="stPlotlyChart"] text')]
                              .some(t => /每个像素被多少个输出读取/.test(t.textContent))""")
    page.wait_for_function("() => location.search.includes('lang=zh')")
    shot("zh_pooling_after_switch")


def test_the_sidebar_switch_keeps_the_page_and_its_settings(open_page):
    page = open_page("/conv-1d?lesson=conv-1d&x=1,2,3,4,5&k=1,1,1&pad=custom&p=1&s=2&step=2")
    page.get_by_role("heading", name="1D convolution").wait_for()
    page.get_by_test_id("stSidebar").get_by_text("简体中文", exact=True).click()
    page.get_by_role("heading", name="一维卷积").wait_for()
    page.get_by_text("第 2 步，共 3 步。").wait_for()  # the same example, at the same step
    page.wait_for_function("() => location.search.includes('lang=zh') && location.search.includes('s=2')")
    page.get_by_test_id("stSidebar").get_by_text("English", exact=True).click()
    page.get_by_role("heading", name="1D convolution").wait_for()


def test_a_first_visit_follows_the_browsers_language(browser, app_url):
    ctx = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 1000})
    try:
        page = ctx.new_page()
        page.set_default_timeout(20_000)
        page.goto(app_url + "/pooling")
        page.get_by_role("heading", name="步幅、池化与展平").wait_for()
    finally:
        ctx.close()


@pytest.mark.parametrize("url", [row[4] for row in PAGE_TABLE])
def test_screenshot_of_every_page_in_chinese(open_page, shot, url):
    page = open_page(f"/{'' if url == PAGE_TABLE[0][4] else url}?lang=zh")
    heading = page.get_by_test_id("stMain").locator("h1").first
    heading.wait_for()
    assert CJK.search(heading.inner_text()), heading.inner_text()
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stSkeleton\"]')")  # every widget drawn
    shot(f"zh_{url}")
