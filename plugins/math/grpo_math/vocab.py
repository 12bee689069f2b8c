"""Word lists shared by the normaliser, the lexer and the parser.

Kept in one place so that "is this a LaTeX command we understand?" has a single answer: the
normaliser uses it to repair doubled backslashes, the lexer to split glued commands (``\\quadx``).
"""

# Commands that only change spacing or sizing: dropped by the lexer.
IGNORED = frozenset("""
    left right big Big bigg Bigg bigl bigr Bigl Bigr biggl biggr Biggl Biggr middle
    quad qquad enspace thinspace negthinspace medspace thickspace displaystyle textstyle
    scriptstyle limits nolimits nonumber notag allowbreak relax hfill noindent centering
    mathstrut strut hline
    """.split())

# Commands whose single braced argument is skipped entirely (labels, spacing, colours).
SKIP_ARG = frozenset("label tag hspace vspace phantom hphantom vphantom color cline".split())

# Commands whose braced argument is prose, not mathematics.
TEXT_COMMANDS = frozenset("""
    text textbf textit textrm textsf texttt textnormal textup emph mbox hbox fbox
    """.split())

# Commands that only restyle their argument, which is still mathematics.
STYLE_COMMANDS = frozenset("""
    mathrm mathbf mathit mathsf mathtt mathnormal mathcal mathscr mathfrak boldsymbol bm
    vec overrightarrow overleftarrow hat widehat tilde widetilde bar underline dot ddot
    """.split())

GREEK = frozenset("""
    alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa lambda mu nu
    xi omicron rho varrho sigma varsigma tau upsilon phi varphi chi psi omega
    Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega
    """.split())
# Two glyphs of one letter name the same quantity (\varepsilon_0 is \epsilon_0).
GREEK_VARIANTS = {"varepsilon": "epsilon", "varphi": "phi", "vartheta": "theta", "varrho": "rho",
                  "varsigma": "sigma", "varkappa": "kappa"}

# Elementary functions, by the name used in LaTeX (``\\sin``) or plain text (``sin``).
FUNCTIONS = frozenset("""
    sin cos tan cot sec csc arcsin arccos arctan arccot arcsec arccsc sinh cosh tanh coth
    sech csch arcsinh arccosh arctanh log ln lg exp sqrt abs gcd lcm max min det floor ceil
    """.split())

RELATION_COMMANDS = {
    "le": "<=", "leq": "<=", "leqslant": "<=", "leqq": "<=", "ge": ">=", "geq": ">=",
    "geqslant": ">=", "geqq": ">=", "lt": "<", "gt": ">", "ne": "!=", "neq": "!=",
    "approx": "~", "simeq": "~", "approxeq": "~", "thickapprox": "~", "sim": "~", "thicksim": "~",
    "equiv": "=", "in": "in",
}

SET_COMMANDS = {"cup": "union", "cap": "inter", "setminus": "minus", "backslash": "minus"}

OPERATOR_COMMANDS = {
    "cdot": "*", "times": "*", "ast": "*", "div": "/", "pm": "pm", "mp": "mp",
    "bmod": "mod", "mod": "mod",
}

# Commands that end one statement and start the one that carries the answer.
IMPLIES = frozenset("Rightarrow implies Longrightarrow therefore to rightarrow longrightarrow".split())

OTHER_COMMANDS = frozenset("""
    frac dfrac tfrac cfrac sqrt binom dbinom tbinom choose over boxed pi infty circ degree
    begin end sum prod operatorname mathbb lfloor rfloor lceil rceil langle rangle lvert rvert
    lbrace rbrace emptyset varnothing dots ldots cdots pmod overline prime not notin mid
    dagger ddagger star
    """.split())

# Calculus and other notation the checker does not evaluate: an answer using it is unreadable.
UNSUPPORTED = frozenset("int iint iiint oint lim limsup liminf sup inf partial nabla".split())

KNOWN_COMMANDS = (IGNORED | SKIP_ARG | TEXT_COMMANDS | STYLE_COMMANDS | GREEK | FUNCTIONS
                  | frozenset(RELATION_COMMANDS) | frozenset(SET_COMMANDS)
                  | frozenset(OPERATOR_COMMANDS) | IMPLIES | OTHER_COMMANDS | UNSUPPORTED)

# Words that name a unit or a percentage: dropped next to a quantity.
UNIT_WORDS = frozenset("""
    cm mm km kg mg ml mL ft yd mi mph kph kmh hr hrs sec secs min mins pct percent percentage
    percents inch inches feet foot yard yards mile miles meter meters metre metres
    centimeter centimeters kilometer kilometers millimeter millimeters gram grams kilogram
    kilograms liter liters litre litres second seconds minute minutes hour hours day days
    week weeks month months year years dollar dollars cent cents euro euros yuan pound pounds
    unit units degree degrees deg rad radians radian square cubic sq people students ways
    points lbs pts yds rpm
    """.split())

PERCENT_WORDS = frozenset("pct percent percentage percents".split())
DEGREE_WORDS = frozenset("degree degrees deg".split())

# Words that join the items of a list of answers.
CONNECTOR_WORDS = frozenset("and or".split())

MATRIX_ENVIRONMENTS = frozenset("""
    matrix pmatrix bmatrix Bmatrix vmatrix Vmatrix smallmatrix array
    """.split())
TRANSPARENT_ENVIRONMENTS = frozenset("""
    equation equation* displaymath math align align* aligned gather gather* split
    """.split())
