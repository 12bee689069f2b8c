"""The reasoning-gym datasets this plugin registers, and the ones whose checker it refuses to run.

The names are listed here rather than read from ``reasoning_gym.factory.DATASETS`` because importing
reasoning-gym takes 1.5 s (it imports matplotlib, sympy and every generator): every `grpo` command
loads the plugins, and only a run that uses a task or the reward should pay for it. A test keeps
this list equal to the installed reasoning-gym's (the dependency is pinned to 0.1.x).
"""

TASKS = (
    'ab', 'acre', 'advanced_geometry', 'aiw', 'arc_1d', 'arc_agi', 'base_conversion', 'basic_arithmetic',
    'bf', 'binary_alternation', 'binary_matrix', 'bitwise_arithmetic', 'boxnet', 'caesar_cipher',
    'calendar_arithmetic', 'chain_sum', 'circuit_logic', 'codeio', 'coin_flip', 'color_cube_rotation',
    'complex_arithmetic', 'composite', 'count_bits', 'count_primes', 'countdown', 'course_schedule',
    'cryptarithm', 'decimal_arithmetic', 'decimal_chain_sum', 'dice', 'emoji_mystery',
    'family_relationships', 'figlet_font', 'fraction_simplification', 'futoshiki', 'game_of_life',
    'game_of_life_halting', 'gcd', 'graph_color', 'group_anagrams', 'gsm_symbolic',
    'intermediate_integration', 'isomorphic_strings', 'jugs', 'kakurasu', 'knight_swap', 'knights_knaves',
    'largest_island', 'lcm', 'leg_counting', 'letter_counting', 'letter_jumble', 'list_functions',
    'mahjong_puzzle', 'manipulate_matrix', 'maze', 'mini_sudoku', 'modulo_grid', 'n_queens',
    'needle_haystack', 'number_filtering', 'number_format', 'number_sequence', 'number_sorting',
    'palindrome_generation', 'palindrome_partitioning', 'path_star', 'polynomial_equations',
    'polynomial_multiplication', 'pool_matrix', 'power_function', 'prime_factorization', 'products',
    'propositional_logic', 'puzzle24', 'quantum_lock', 'ransom_note', 'rearc', 'rectangle_count',
    'rotate_matrix', 'rotten_oranges', 'rubiks_cube', 'rush_hour', 'self_reference', 'sentence_reordering',
    'shortest_path', 'simple_equations', 'simple_geometry', 'simple_integration', 'sokoban',
    'spell_backward', 'spiral_matrix', 'string_insertion', 'string_manipulation', 'string_splitting',
    'string_synthesis', 'sudoku', 'survo', 'syllogism', 'time_intervals', 'tower_of_hanoi', 'tsumego',
    'word_ladder', 'word_sequence_reversal', 'word_sorting', 'zebra_puzzles',
)

# Their score_answer hands the model's answer to eval() or sympy's parse_expr (which evaluates
# Python): this project never runs model output that way, so these tasks are refused, as datasets and
# as rows to score. Found by reading each score_answer (and what it calls) in reasoning-gym 0.1.25; a
# test re-derives the set from the installed sources. (bitwise_arithmetic and number_sorting eval
# only the generated problem or reference, never the answer, and are allowed.)
UNSAFE = frozenset({
    "binary_matrix", "countdown", "intermediate_integration", "n_queens", "polynomial_multiplication",
    "puzzle24", "simple_integration", "spiral_matrix", "string_insertion",
})


def refusal(name: str) -> str:
    return (f"reasoning_gym.{name}: its answer checker evaluates the model's answer as code (eval or "
            f"sympy's parse_expr), which grpo never does with model output; pick another task")
