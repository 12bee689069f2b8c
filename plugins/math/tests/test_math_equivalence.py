"""Equivalence, category by category: each has pairs that must match and pairs that must not
(a checker that says "equal" too easily is as bad as one that is too strict)."""
import pytest

from grpo_math import score

EQUAL = {
    "integers and rationals": [
        ("42", "42"), ("42", "42.0"), ("-5", "-5"), ("\\frac{3}{4}", "0.75"), ("0.5", "\\frac{1}{2}"),
        ("1/2", "2/4"), ("\\frac{10}{9}", "10/9"), ("2^{100}", "1267650600228229401496703205376"),
    ],
    "decimals within rel_tol": [
        ("\\frac{1}{3}", "0.3333"), ("\\frac{1}{12}", "0.0833333333333333"), ("\\sqrt{2}", "1.41421"),
        ("\\pi", "3.14159"), ("16386.17", "16386.169"), ("e", "2.71828"),
    ],
    "thousands separators and decimal commas": [
        ("7425000", "7,425,000"), ("1000", "1 000"), ("1000.99", "1,000.99"), ("1000.99", "1000,99"),
        ("1000000", "10^6"), ("1000", "1\\,000"), ("14916", "14{,}916"), ("32349", "32,\\!349"),
        ("0.111", "0,111"), ("2.5", "2,5"),
    ],
    "percentages": [
        ("25\\%", "25"), ("25\\%", "0.25"), ("0.25", "25%"), ("28\\%", "28 percent"), ("50\\%", "\\frac{1}{2}"),
    ],
    "currency and units": [
        ("18", "\\$18"), ("18", "18 dollars"), ("1000.99", "1,000.99€"), ("5", "5 \\text{ cm}"),
        ("15", "15\\mbox{ cm}^2"), ("0.06", "0.06 \\text{ yuan}"), ("125", "125\\textnormal{ miles}"),
        ("10", "10 \\text{ units}^2"), ("5", "5\\text{ m/s}"), ("100\\pi", "100\\pi \\text{ cm}^2"),
    ],
    "degrees": [
        ("90^\\circ", "90"), ("30^\\circ", "\\frac{\\pi}{6}"), ("30^{\\circ}", "30 degrees"), ("45", "45°"),
        ("\\frac{1}{2}", "\\sin 30^\\circ"), ("\\frac{\\sqrt{3}}{2}", "\\cos(30^{\\circ})"),
    ],
    "text": [
        ("\\text{Evelyn}", "\\boxed{\\text{Evelyn}}"), ("\\text{odd}", "odd"), ("\\text{Even}", "Even"),
        ("\\text{no solution}", "No solution"), ("\\text{yes}", "Yes"),
    ],
    "fraction spellings": [
        ("\\frac{1}{3}", "\\dfrac{1}{3}"), ("\\frac{1}{3}", "\\tfrac13"), ("\\frac{1}{3}", "\\cfrac{1}{3}"),
        ("\\frac{9}{4}\\pi", "\\frac94\\pi"), ("1", "\\frac3{3}"), ("0.75", "{3 \\over 4}"), ("1/3", "1/3"),
        ("\\frac{5}{2}", "2\\frac{1}{2}"), ("\\frac{2}{3}", "0.\\overline{6}"),
    ],
    "roots and powers": [
        ("\\sqrt{8}", "2\\sqrt{2}"), ("\\sqrt{3}", "\\sqrt3"), ("\\sqrt[3]{27}", "3"), ("2^{10}", "1024"),
        ("\\sqrt{3}", "3^{1/2}"), ("8^{1/3}", "2"), ("\\frac{1}{\\sqrt{2}}", "\\frac{\\sqrt{2}}{2}"),
        ("\\frac{1}{3x^{2/3}}", "\\frac{1}{3\\sqrt[3]{x}^2}"),
    ],
    "factorials and binomials": [
        ("120", "5!"), ("\\binom{5}{2}", "10"), ("\\dbinom{6}{3}", "20"), ("{5 \\choose 2}", "10"),
        ("\\binom{n}{2}", "\\frac{n(n-1)}{2}"), ("\\binom{n}{k}", "\\frac{n!}{k!(n-k)!}"),
    ],
    "trigonometry and logarithms": [
        ("\\sin(\\pi/6)", "1/2"), ("\\log_2 8", "3"), ("\\ln(e^2)", "2"), ("\\tan^2(y)+1", "\\sec^2(y)"),
        ("2\\sin x\\cos x", "\\sin 2x"), ("\\arcsin x", "\\sin^{-1} x"), ("\\log_{10} 1000", "3"),
    ],
    "constants": [
        ("e^{i\\pi}", "-1"), ("\\infty", "\\infty"), ("(1, +\\infty)", "(1, \\infty)"), ("\\infty", "infinity"),
        ("1 - \\frac{1}{\\mathrm{e}}", "1 - e^{-1}"),
    ],
    "symbolic expressions": [
        ("x^2+2x+1", "(x+1)^2"), ("\\frac{x+2}{7}", "\\frac{x}{7}+\\frac{2}{7}"), ("a+b", "b+a"),
        ("\\frac{x^2-1}{x-1}", "x+1"), ("\\frac{1}{x+1}+\\frac{1}{x-1}", "\\frac{2x}{x^2-1}"),
        ("2\\sin b\\cos a", "2 \\cos a \\sin b"), ("\\frac{\\pi r}{h+r}", "\\pi r/(r+h)"),
    ],
    "equations": [
        ("x = 2", "2"), ("2", "x=2"), ("k=1", "1"), ("y = 2x + 3", "2x+3"), ("2x+4y-3=0", "y=-\\frac{1}{2}x+\\frac{3}{4}"),
        ("34x+45y-20z+100=0", "-34x-45y+20z-100=0"), ("x = 11", "x = 5+5+1 = 11"), ("1/3", "x=1/3\\approx 0.33"),
        ("|AB| = 1", "1"), ("f(x) = 2x + 1", "2x+1"), ("(p,q)=(3,2)", "(3,2)"),
    ],
    "inequalities and intervals": [
        ("x<3", "(-\\infty,3)"), ("x \\le 3", "(-\\infty, 3]"), ("x > 2", "(2, \\infty)"), ("[2,5)", "2 \\le x < 5"),
        ("x \\geq 5", "5 \\leq x"), ("x < 1", "-x > -1"), ("-793 < a < 10", "(-793, 10)"),
        ("(1,2)\\cup(3,4)", "(3,4)\\cup(1,2)"), ("[0,1]\\cup[1,2]", "[0,2]"), ("x \\neq 0", "(-\\infty,0)\\cup(0,\\infty)"),
        ("|x-1| < 2", "(-1, 3)"), ("1\\leq|z|\\leq \\frac{3}{2}", "[-\\frac32,-1]\\cup[1,\\frac32]"),
        ("x \\in [-2,7]", "[-2, 7]"), ("\\{x \\mid x > 2\\}", "(2,\\infty)"), ("\\mathbb{R}", "(-\\infty,\\infty)"),
        ("(-\\infty, 2) \\cup (3, \\infty)", "x < 2 \\text{ or } x > 3"), ("x \\in [1, 4]", "1 \\le x \\le 4"),
    ],
    "sets and tuples": [
        ("\\{1,2\\}", "\\{2,1\\}"), ("\\{1,2\\}", "1, 2"), ("(1,2)", "\\left(1, 2\\right)"), ("\\{3\\}", "3"),
        ("\\emptyset", "\\varnothing"), ("(1,3)", "{1,3}"), ("\\langle 1,2 \\rangle", "(1,2)"),
        ("(2,1),(1,2)", "\\boxed{(1, 2)}, \\boxed{(2, 1)}"), ("x=-1 \\text{ or } x=2", "\\{-1, 2\\}"),
        ("-12;-11;-10", "\\{-12, -11, -10\\}"), ("(0;0;1),(1;0;0)", "(1,0,0), (0,0,1)"),
        ("19, 46, and 82", "19, 46, \\text{ and } 82"),
    ],
    "matrices": [
        ("\\begin{pmatrix}1 & 0 \\\\ 0 & 1\\end{pmatrix}", "\\begin{bmatrix}1 & 0 \\\\ 0 & 1\\end{bmatrix}"),
        ("\\begin{pmatrix}1 & 2 \\\\ 3 & 4\\end{pmatrix}", "\\left[\\begin{array}{cc}1 & 2 \\\\ 3 & 4\\end{array}\\right]"),
        ("\\begin{pmatrix}6 & 8 \\\\ 10 & 12\\end{pmatrix}",
         "\\begin{pmatrix}1 & 2 \\\\ 3 & 4\\end{pmatrix} + \\begin{pmatrix}5 & 6 \\\\ 7 & 8\\end{pmatrix}"),
        ("\\begin{pmatrix}1\\\\2\\end{pmatrix}", "(1,2)"),
    ],
    "complex numbers": [
        ("3+4i", "4i+3"), ("i", "\\sqrt{-1}"), ("-1", "i^2"), ("\\frac{1+i}{2}", "0.5 + 0.5i"), ("|3+4i|", "5"),
    ],
    "multiple choice": [
        ("B", "\\boxed{B}"), ("B", "(B)"), ("B", "\\text{(B)}"), ("\\text{C}", "\\boxed{\\text{(C)}}"),
        ("\\text{E}", "E"), ("D", "\\boxed{\\textbf{(D) } 17}"), ("C", "The correct option is C"),
    ],
    "plus-minus": [
        ("\\pm 3", "3, -3"), ("\\pm 2021", "{-2021, 2021}"), ("1 \\pm \\sqrt{19}", "x = 1 \\pm \\sqrt{19}"),
        ("\\{1\\pm\\sqrt{5},-2\\}", "-2, 1+\\sqrt 5, 1-\\sqrt5"), ("2 \\pm \\sqrt{3}", "2+\\sqrt3, 2-\\sqrt3"),
    ],
    "ratios and bases": [
        ("3:4", "6:8"), ("12:00", "12:00"), ("V_1:V_2 = 11:21", "11:21"), ("204_5", "\\boxed{204_5}"),
    ],
}

DIFFERENT = {
    "integers and rationals": [
        ("42", "43"), ("\\frac{3}{4}", "\\frac{4}{3}"), ("-0.5", "\\frac{1}{2}"), ("100000", "100001"),
        ("2^{100}", "1267650600228229401496703205377"), ("123456", "123460.0"),
    ],
    "decimals outside rel_tol": [
        ("\\frac{1}{3}", "0.33"), ("\\pi", "3.14"), ("\\sqrt{2}", "1.41"), ("16386.20", "16386.16"), ("0", "0.00001"),
    ],
    "separators": [("32349", "32, 349"), ("2", "AZYUK2A")],
    "percentages": [("25\\%", "26\\%"), ("25\\%", "0.26")],
    "degrees": [("45^\\circ", "30^\\circ"), ("\\frac{\\pi}{3}", "60")],
    "text": [("\\text{Tuesday}", "Wednesday"), ("d", "\\text{E}"), ("\\text{Evelyn}", "\\text{Carla}")],
    "roots and powers": [("\\sqrt{8}", "2\\sqrt{3}"), ("4", "4\\sqrt{2}"), ("1\\sqrt{19}", "1")],
    "factorials": [("6!", "120"), ("n!", "(n-1)!")],
    "trigonometry and logarithms": [("\\log 100", "3"), ("\\sin x", "\\cos x")],
    "symbolic expressions": [
        ("x^2+2x+1", "(x-1)^2"), ("|x|", "x"), ("3x", "3y"), ("x+2n+1", "x+1"), ("(a+5)(b+2)", "(+5)(b+2)"),
        ("\\sqrt{x^2}", "x"), ("1 - \\frac{1}{e}", "1 + \\frac{1}{e}"),
    ],
    "equations": [
        ("y=2x+3", "y=2x-3"), ("x=2", "x=3"), ("a +3z = 0", "0"), ("2x + z = 1", "1"), ("7 = 11a+c", "11a+c"),
        ("x = 2", "x^2 = 4"),
    ],
    "inequalities and intervals": [
        ("x<3", "(-\\infty,3]"), ("x > 5", "x < 5"), ("x < 1", "x > -1"), ("[0,1]", "[0,1)"), ("(2,3)", "(3,2)"),
        ("(0,\\infty)", "[0,\\infty)"), ("[0,1)", "(0,1)"), ("[-3,2]", "(-\\infty, -3] \\cup [2, \\infty)"),
        ("(-\\infty, 2) \\cup (3, \\infty)", "x < 2 \\text{ or } x > 4"),
    ],
    "sets and tuples": [
        ("\\{1,2\\}", "\\{1,3\\}"), ("(1,2)", "(2,1)"), ("\\{1,2,3\\}", "\\{1,2\\}"), ("\\{1,2\\}", "(1,2)"),
        ("(3,1)", "{1,3}"), ("\\emptyset", "\\{0\\}"), ("3", "\\{3, 4\\}"), ("(1,2)", "[1,2]"),
        ("n=2, 3, 4", "n=1, 2, 3"), ("(37,3,3),(17,3,3,7)", "(37,3,3,13),(17,3,3,7)"),
    ],
    "matrices": [
        ("\\begin{pmatrix}1 & 2 \\\\ 3 & 4\\end{pmatrix}", "\\begin{pmatrix}1 & 2 \\\\ 3 & 5\\end{pmatrix}"),
        ("\\begin{pmatrix}1&2\\end{pmatrix}", "\\begin{pmatrix}2&1\\end{pmatrix}"), ("\\frac{1}{3}", "\\begin{pmatrix}1\\end{pmatrix}"),
    ],
    "complex numbers": [("3+4i", "3-4i"), ("i", "1")],
    "multiple choice": [("B", "\\boxed{C}"), ("\\frac{1}{3}", "\\text{(C)}")],
    "plus-minus": [("\\pm 3", "3"), ("\\pm 2021", "2021")],
    "ratios and bases": [("3:4", "4:3"), ("12:00", "1:00"), ("1112112_3", "1112122_3")],
}


def _cases(table):
    return [pytest.param(ref, answer, id=f"{category}: {ref} | {answer}")
            for category, pairs in table.items() for ref, answer in pairs]


@pytest.mark.parametrize("reference, completion", _cases(EQUAL))
def test_equivalent_answers_score_one(reference, completion):
    assert score(completion, reference) == 1.0


@pytest.mark.parametrize("reference, completion", _cases(DIFFERENT))
def test_different_answers_score_zero(reference, completion):
    assert score(completion, reference) == 0.0


@pytest.mark.parametrize("reference, completion", [
    ("$1/3$", "Answer $ \\frac{1}{2} \\$ = \\frac{10}{9} $"),
])
def test_computation_chain_ends_in_its_answer(reference, completion):
    assert score(completion, "$10/9$") == 1.0
