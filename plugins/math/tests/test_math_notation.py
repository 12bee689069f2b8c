"""Notation beyond competition algebra: physics and olympiad names, function definitions, factors
side by side, approximations, mixed numbers, determinants and clock times.

Each family has pairs that must match, pairs that must not, and the readings it must leave
alone (the ambiguity the rule guards against): a rule that widens what is equal has to be
shown not to widen it too far.
"""
import pytest

from grpo_math import score

EQUAL = {
    "subscript labels": [
        ("I_{\\max}", "I_{max}"), ("I_{\\max}", "I_\\max"), ("I_{\\max}", "I_{\\text{max}}"),
        ("I_{\\max}", "I_{\\mathrm{max}}"), ("I_{\\max}", "I_{\\rm max}"), ("I_{\\max}", "I_\\text{max}"),
        ("I_{\\max}", "I_{\\operatorname{max}}"), ("k_{\\mathrm{B}} T_{\\mathrm{s}}", "k_B T_s"),
        ("k_{\\mathrm{B}} T_{\\mathrm{s}}", "T_{s} k_{B}"), ("E_{\\text{kin}}", "E_{kin}"),
        ("\\frac{1}{2} m v_{\\mathrm{f}}^2", "\\frac{m v_f^2}{2}"), ("x_{\\alpha}", "x_\\alpha"),
        ("\\frac{q}{4\\pi\\varepsilon_0 r^2}", "\\frac{q}{4\\pi\\epsilon_{0} r^{2}}"),
        ("a_{1,2}", "a_{1, 2}"), ("a_{n+1}", "a_{n + 1}"),
    ],
    "superscript before subscript": [
        ("v_0^2", "v^2_0"), ("v_{0}^{2}", "v^{2}_{0}"), ("\\frac{m v^2_0}{2}", "\\frac{1}{2} m v_0^2"),
        ("\\omega_L^{2}", "\\omega^2_{L}"),
    ],
    "primes, stars and daggers": [
        ("\\omega_{L}^{\\prime}", "\\omega_L'"), ("\\omega_{L}^{\\prime}", "\\omega'_L"),
        ("\\omega_{L}^{\\prime}", "\\omega_{L}^\\prime"), ("x''", "x^{\\prime\\prime}"), ("x''", "x^{''}"),
        ("2v'", "2 v^{\\prime}"), ("T^*", "T^{*}"), ("T^*", "T^{\\ast}"), ("a^\\dagger", "a^{\\dagger}"),
        ("v'^2", "(v')^2"), ("x^{*}_1", "x_1^*"),
    ],
    "function notation on the left": [
        ("\\Phi(x,y) = \\frac{x+1}{2y}", "\\frac{x+1}{2y}"),
        ("\\Phi(x,y) = \\frac{x+1}{2y}", "\\frac{x}{2y} + \\frac{1}{2y}"),
        ("\\frac{x+1}{2y}", "\\Phi(x, y) = \\frac{x}{2y}+\\frac{1}{2y}"),
        ("F(x, y) = x^2 + y", "x^2+y"), ("u_1(x, t) = x t", "xt"), ("f(x) = 2x+1", "y = 2x+1"),
        ("P(2) = 5", "5"), ("P(-1) = 3", "3"), ("T(n) = n^2", "n^2"), ("A(1, 2)", "(1, 2)"),
        ("V(r) = \\frac{4}{3}\\pi r^3", "\\frac{4\\pi r^3}{3}"),
    ],
    "exact value and its approximation": [
        ("\\frac{\\sqrt{3}}{3} \\approx 0.577", "\\frac{\\sqrt3}{3}"),
        ("\\frac{\\sqrt{3}}{3} \\approx 0.577", "\\frac{1}{\\sqrt{3}}"),
        ("\\frac{\\sqrt{3}}{3}", "\\frac{\\sqrt{3}}{3} \\approx 0.58"),
        ("\\frac{\\sqrt{3}}{3}", "\\frac{\\sqrt{3}}{3} (\\approx 0.577)"),
        ("\\frac{\\sqrt{3}}{3}", "\\frac{\\sqrt{3}}{3} \\simeq 0.577"),
        ("\\frac{\\sqrt{3}}{3}", "\\frac{\\sqrt{3}}{3} \u2248 0.577"),
        ("\\frac{\\sqrt{3}}{3}", "x = \\frac{\\sqrt{3}}{3} \\approx 0.577"),
        # the approximation is an answer too when it is the exact value rounded
        ("\\frac{\\sqrt{3}}{3} \\approx 0.577", "0.577"), ("3.14", "\\pi \\approx 3.14"),
        ("2.71", "e \\approx 2.71"), ("123000", "123456 \\approx 1.23 \\times 10^5"),
        ("11", "x \\approx 11"), ("0.577", "\\approx 0.577"),
        ("\\frac{\\sqrt{3}}{3}", "\\frac{\\sqrt3}{3} \\text{ (approximately 0.577)}"),
        ("\\frac{\\sqrt{3}}{3}", "\\frac{\\sqrt3}{3} \\text{ approximately } 0.577"),
        ("\\frac{\\sqrt{3}}{3}", "\\frac{\\sqrt3}{3} (approx. 0.577)"),
    ],
    "factors side by side": [
        ("2^6 \\cdot 3^5 \\cdot 5^4", "2^6 3^5 5^4"), ("9720000", "2^6 3^5 5^4"), ("2^{6} 3^{5}", "2^6 3^5"),
        ("6400", "2^6 100"), ("48", "2^4 3"),
    ],
    "letters side by side": [
        ("\\frac{mv^2}{r}", "\\frac{m v^2}{r}"), ("\\frac{1}{2}mv^2", "\\frac{m v^2}{2}"), ("mgh", "m g h"),
        ("2mgh", "2 m g h"), ("a^3+b^3+c^3-3abc", "a^3+b^3+c^3-3 a b c"), ("\\frac{GMm}{r^2}", "\\frac{G M m}{r^2}"),
        ("mgl\\sin\\theta", "m g l \\sin\\theta"), ("nRT", "n R T"), ("xy^2", "x y^2"), ("abc", "a b c"),
    ],
    "mixed numbers": [
        ("1.5", "1 1/2"), ("\\frac32", "1 1/2"), ("-1.5", "-1 1/2"), ("11/4", "x = 2 3/4"),
        ("3/2", "1 1/2 \\text{ cups}"), ("3/2", "1 1/2 cups"), ("(1.5, 2.25)", "(1 1/2, 2 1/4)"),
        ("1.125", "1 125/1000"), ("1.5", "1\\frac{1}{2}"), ("1.5", "1 \\frac{1}{2}"), ("3.5", "3\\tfrac12"),
        ("0.5", "2 - 1 1/2"),
    ],
    "determinants": [
        ("-2", "\\begin{vmatrix}1&2\\\\3&4\\end{vmatrix}"), ("ad-bc", "\\left|\\begin{array}{cc}a&b\\\\c&d\\end{array}\\right|"),
        ("\\begin{vmatrix}a&b\\\\c&d\\end{vmatrix}", "\\det\\begin{pmatrix}a&b\\\\c&d\\end{pmatrix}"),
        ("24", "\\det\\begin{bmatrix}2&0&0\\\\0&3&0\\\\0&0&4\\end{bmatrix}"),
        ("-3", "\\begin{vmatrix}1&2&3\\\\4&5&6\\\\7&8&10\\end{vmatrix}"),
        ("-3", "\\begin{vmatrix}1&2&3\\\\4&5&6\\\\7&8&10\\end{vmatrix} = -3"),
        ("x^2-1", "\\begin{vmatrix}x&1\\\\1&x\\end{vmatrix}"), ("1", "\\begin{vmatrix}\\sqrt2&1\\\\1&\\sqrt2\\end{vmatrix}"),
        ("5", "\\begin{Vmatrix}3\\\\4\\end{Vmatrix}"), ("5", "\\left|\\begin{pmatrix}3\\\\4\\end{pmatrix}\\right|"),
    ],
    "clock times": [
        ("20:34", "20:34:00"), ("20:34", "8:34 P.M."), ("8:34 p.m.", "20:34"), ("20:34", "8:34 \\text{ P.M.}"),
        ("20:34", "8:34 \\text{pm}"), ("20:34", "8:34PM"), ("20:34", "8:34 \\mathrm{PM}"), ("8:34", "8:34 a.m."),
        ("08:34", "8:34 AM"), ("12:00", "12:00 noon"), ("12 noon", "12:00 \\text{ noon}"), ("12:00", "noon"),
        ("0:00", "12:00 a.m."), ("midnight", "12:00 \\mathrm{AM}"), ("0:00", "24:00"), ("20:00", "8 P.M."),
        ("20:00", "8 \\text{ p.m.}"), ("20:34", "t = 8:34 \\text{ P.M.}"), ("8:34 pm", "20:34 \\text{ hours}"),
        # a ratio stays a ratio: against a ratio, and where the left side names one
        ("3:4", "6:8"), ("2:30", "4:60"), ("V_1:V_2 = 11:21", "22:42"), ("S_{MBCN}:S=7:32", "\\boxed{7:32}"),
        # in prose a time is the last number as a whole
        ("20:34", "The train arrives at 8:34 P.M."), ("12:30", "She left at 12:30."),
        ("20:34", "\\boxed{\\text{8:34 p.m.}}"), ("9:00", "\\boxed{9 \\text{ A.M.}}"),
    ],
}

DIFFERENT = {
    "subscript labels": [
        ("I_{\\max}", "I_{\\min}"), ("I_{\\max}", "I"), ("k_{\\mathrm{B}} T_{\\mathrm{s}}", "k_B T"),
        ("k_B", "k_b"), ("T_{\\mathrm{s}}", "T s"), ("a_{12}", "a_{1,2}"), ("x_{\\alpha}", "x_\\beta"),
    ],
    "superscript before subscript": [
        ("v_0^2", "v^2"), ("v_0^2", "v_0"), ("v_0^2", "v_2^0"), ("v^2_0", "v_0^3"),
    ],
    "primes, stars and daggers": [
        ("\\omega_{L}^{\\prime}", "\\omega_L"), ("x'", "x''"), ("x'", "x"), ("T^*", "T"),
        ("a^\\dagger", "a^*"), ("\\omega'_L", "\\omega_L'^2"),
    ],
    "function notation on the left": [
        ("\\Phi(x,y) = \\frac{x+1}{2y}", "\\frac{x+2}{2y}"), ("F(x, y) = x^2 + y", "x^2+2y"),
        ("A(1, 2)", "(2, 1)"), ("f(1, 2)", "(1, 2)"), ("P(2) = 5", "2"),
    ],
    "exact value and its approximation": [
        ("\\frac{\\sqrt{3}}{3}", "\\frac{\\sqrt{2}}{2} \\approx 0.707"),
        ("\\frac{\\sqrt{3}}{3} \\approx 0.577", "\\frac{\\sqrt2}{2}"),
        ("\\frac{\\sqrt{3}}{3} \\approx 0.577", "0.578"), ("\\frac{\\sqrt{3}}{3}", "0.577"),
        # an "approximation" that is not the exact value rounded is no answer of its own
        ("11", "x = 5+5+1 = 1/3 \\approx 11"), ("0.7", "\\frac{\\sqrt{3}}{3} \\approx 0.7"),
    ],
    "factors side by side": [
        ("2^6 \\cdot 3^5 \\cdot 5^4", "2^6 3^4 5^4"), ("2^6 \\cdot 3^5", "2^{63^5}"),
    ],
    "letters side by side": [
        ("xy^2", "x^2 y^2"), ("\\frac{mv^2}{r}", "\\frac{m^2 v^2}{r}"), ("abc", "a b"), ("3abc", "3"),
    ],
    "mixed numbers": [
        ("1.5", "1 1/2 x"), ("x + 1/2", "x 1/2"), ("2.5", "1 3/2"), ("1/2", "1 1/2"), ("1.5", "11/2"),
    ],
    "determinants": [
        ("2", "\\begin{vmatrix}1&2\\\\3&4\\end{vmatrix}"), ("x^2+1", "\\begin{vmatrix}x&1\\\\1&x\\end{vmatrix}"),
        # a determinant is a number, never the matrix it is taken of
        ("\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", "\\begin{vmatrix}1&2\\\\3&4\\end{vmatrix}"),
    ],
    "clock times": [
        ("20:34", "8:34 A.M."), ("8:34", "8:34 P.M."), ("12:00 a.m.", "12:00 p.m."), ("12:00", "1:00"),
        ("20:34", "20:35"), ("20:34:00", "20:34:30"), ("12:00", "midnight"),
        # two times are compared as times, never as ratios
        ("12:30", "6:15"), ("10:17", "20:34"), ("11:21", "22:42"),
        ("20:34", "The train arrives at 8:34 A.M."), ("3:4", "the ratio is 3:4 in 20:34"),
    ],
}

# Readings a new rule must not change: (reference, completion, expected score).
UNCHANGED = [
    ("\\begin{vmatrix}1&2&3\\end{vmatrix}", "6", None),  # no determinant of a row: unreadable
    ("\\begin{pmatrix}1 & 2 \\\\ 3 & 4\\end{pmatrix}", "\\begin{bmatrix}1 & 2 \\\\ 3 & 4\\end{bmatrix}", 1.0),
    ("2^{10}", "1024", 1.0), ("e^{i\\pi}", "-1", 1.0), ("x^2", "x \\cdot x", 1.0),
    # a name before a bracket is still a factor unless the bracket holds several arguments or
    # the answer defines the name at simple arguments
    ("x(x+1) = 0", "0", 0.0), ("x(1-x) = 0", "0", 0.0), ("a(b+c)", "ab+ac", 1.0), ("k(1) + 2", "k+2", 1.0),
    ("x(x+1)", "x^2+x", 1.0),
    # side by side, numbers multiply only after a one-token exponent; 1 000 is a digit group
    ("\\sin x \\cos x", "\\frac{\\sin 2x}{2}", 1.0), ("2x", "2 x", 1.0), ("1000", "1 000", 1.0),
    ("12", "3 4", 0.0),
    # a space before a fraction makes a mixed number only where nothing else can be meant
    ("x/2", "x 1/2", 1.0), ("48", "2^6 3/4", 1.0), ("1.5x", "1 1/2 x", 0.0),
    # pm after a number without a colon may be picometres: the unit is dropped, as before
    ("74", "74 \\text{ pm}", 1.0), ("1:2:3", "2:4:6", 0.0),
    # words are still words: units and names beside a quantity are dropped, prose is text
    ("5", "5 cm", 1.0), ("5", "5cm", 1.0), ("5", "5 apples", 1.0), ("5", "5 lbs", 1.0),
    ("5", "5 kWh", 1.0), ("\\text{odd}", "odd", 1.0),
    ("\\text{Evelyn}", "Evelyn", 1.0), ("\\text{no solution}", "No solution", 1.0),
]


def _cases(table):
    return [pytest.param(ref, answer, id=f"{category}: {ref} | {answer}")
            for category, pairs in table.items() for ref, answer in pairs]


@pytest.mark.parametrize("reference, completion", _cases(EQUAL))
def test_equivalent_notation_scores_one(reference, completion):
    assert score(completion, reference) == 1.0


@pytest.mark.parametrize("reference, completion", _cases(DIFFERENT))
def test_different_notation_scores_zero(reference, completion):
    assert score(completion, reference) == 0.0


@pytest.mark.parametrize("reference, completion, expected", UNCHANGED)
def test_readings_the_rules_leave_alone(reference, completion, expected):
    assert score(completion, reference) == expected
